package relay

import (
	"slices"

	"dicomgate/store"
)

// Role is what an account may do in a project. Roles are granted per
// project; a grant on project "*" holds in every project and is required
// for the relay-wide duties (accounts, the policy registry, the whole
// audit trail).
type Role string

// The roles (DESIGN.md, "Accounts, audit and Part 11").
const (
	RoleAdmin         Role = "admin"          // accounts, policies and approvals, sites, releases
	RoleSiteOperator  Role = "site_operator"  // enrolment tokens and agents of a site
	RoleCorelabReader Role = "corelab_reader" // lists and downloads sealed studies
	RoleAuditor       Role = "auditor"        // reads and exports the audit trail
)

// AllProjects is the project of a relay-wide grant.
const AllProjects = "*"

// Roles returns every role, in a fixed order.
func Roles() []Role { return []Role{RoleAdmin, RoleSiteOperator, RoleCorelabReader, RoleAuditor} }

// valid reports whether r is a known role.
func (r Role) valid() bool { return slices.Contains(Roles(), r) }

// permission is one thing a route does; roles hold permissions.
type permission string

// The permissions routes require.
const (
	permAuthenticated permission = "authenticated"  // any signed-in caller, even restricted
	permDashboard     permission = "dashboard.view" // the dashboard
	permStudyRead     permission = "study.read"     // list studies, files, manifests, agent keys
	permDownload      permission = "study.download" // download sealed objects
	permStudyRelease  permission = "study.release"  // release a study (signature)
	permSiteManage    permission = "site.manage"    // enrolment tokens, revoke agents
	permPolicyRead    permission = "policy.read"    // read the policy registry
	permPolicyEdit    permission = "policy.edit"    // create and edit policies (relay-wide)
	permPolicyApprove permission = "policy.approve" // approve a policy for a project (signature)
	permUserManage    permission = "user.manage"    // accounts and roles (relay-wide)
	permAuditRead     permission = "audit.read"     // query the audit trail
	permAuditExport   permission = "audit.export"   // export the audit trail (signature)
)

// rolePermissions is the least-privilege matrix.
func rolePermissions(r Role) []permission {
	switch r {
	case RoleAdmin:
		return []permission{permDashboard, permStudyRead, permStudyRelease, permSiteManage, permPolicyRead,
			permPolicyEdit, permPolicyApprove, permUserManage, permAuditRead, permAuditExport}
	case RoleSiteOperator:
		return []permission{permDashboard, permSiteManage, permPolicyRead}
	case RoleCorelabReader:
		return []permission{permDashboard, permStudyRead, permDownload}
	case RoleAuditor:
		return []permission{permDashboard, permStudyRead, permPolicyRead, permAuditRead, permAuditExport}
	}
	return nil
}

// allowed reports whether grants give perm in project. project "" means
// "in some project" (a relay-wide page filtered by what the caller may
// see); AllProjects means relay-wide, which only a "*" grant gives.
func allowed(grants []store.Grant, perm permission, project string) bool {
	if perm == permAuthenticated {
		return true
	}
	for _, g := range grants {
		if !slices.Contains(rolePermissions(Role(g.Role)), perm) {
			continue
		}
		if g.Project == AllProjects || project == "" || g.Project == project {
			return true
		}
	}
	return false
}

// projectsWith returns the projects in which grants give perm, with
// AllProjects when a relay-wide grant does.
func projectsWith(grants []store.Grant, perm permission) []string {
	var out []string
	for _, g := range grants {
		if slices.Contains(rolePermissions(Role(g.Role)), perm) && !slices.Contains(out, g.Project) {
			out = append(out, g.Project)
		}
	}
	return out
}
