package relay

import (
	"bytes"
	"errors"
	"net/http"
	"slices"
	"strconv"

	"dicomgate/audit"
	"dicomgate/store"
)

func (u *webUI) dashboardPage(w http.ResponseWriter, r *http.Request) {
	p := principalFrom(r.Context())
	d, err := u.s.dashboard(r.Context(), p)
	if err != nil {
		u.s.internal(w, err)
		return
	}
	u.render(w, http.StatusOK, "dashboard", newPageData(p, "Dashboard", d))
}

// studyView is a study on the projects page.
type studyView struct {
	store.StudySummary
	Release *store.Signature
}

// projectView is a project on the projects page.
type projectView struct {
	ID      string
	Studies []studyView
}

// releases returns project's release signatures by study.
func (s *Server) releases(r *http.Request, project string) (map[string]*store.Signature, error) {
	res, err := s.resources()
	if err != nil {
		return nil, err
	}
	rels, err := res.accounts.ListReleases(r.Context(), project)
	if err != nil {
		return nil, err
	}
	out := map[string]*store.Signature{}
	for _, rel := range rels {
		sig, err := res.accounts.GetSignature(r.Context(), rel.SignatureID)
		if err != nil {
			return nil, err
		}
		out[rel.StudyUID] = sig
	}
	return out, nil
}

func (u *webUI) projectsPage(w http.ResponseWriter, r *http.Request) {
	p := principalFrom(r.Context())
	res, err := u.s.resources()
	if err != nil {
		u.s.internal(w, err)
		return
	}
	var views []projectView
	for _, id := range u.s.visibleProjects(p) {
		if !allowed(p.Grants, permStudyRead, id) {
			continue
		}
		studies, err := res.db.ListStudies(r.Context(), id)
		if err != nil {
			u.s.internal(w, err)
			return
		}
		rels, err := u.s.releases(r, id)
		if err != nil {
			u.s.internal(w, err)
			return
		}
		v := projectView{ID: id}
		for _, st := range studies {
			v.Studies = append(v.Studies, studyView{StudySummary: st, Release: rels[st.StudyUID]})
		}
		views = append(views, v)
	}
	u.render(w, http.StatusOK, "projects", newPageData(p, "Projects & studies", map[string]any{"Projects": views}))
}

// studyPageView is the study page's data.
type studyPageView struct {
	Project, Study          string
	Files                   []store.FileRecord
	Release                 *store.Signature
	CanRelease, CanDownload bool
}

func (u *webUI) studyView(r *http.Request) (*studyPageView, error) {
	p := principalFrom(r.Context())
	res, err := u.s.resources()
	if err != nil {
		return nil, err
	}
	project, study := r.PathValue("project"), r.PathValue("study")
	if !validUID(study) {
		return nil, store.ErrNotExist
	}
	files, err := res.db.ListFiles(r.Context(), project, study)
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, store.ErrNotExist
	}
	rels, err := u.s.releases(r, project)
	if err != nil {
		return nil, err
	}
	return &studyPageView{Project: project, Study: study, Files: files, Release: rels[study],
		CanRelease: allowed(p.Grants, permStudyRelease, project), CanDownload: allowed(p.Grants, permDownload, project)}, nil
}

func (u *webUI) studyPage(w http.ResponseWriter, r *http.Request) {
	p := principalFrom(r.Context())
	v, err := u.studyView(r)
	if errors.Is(err, store.ErrNotExist) {
		u.s.renderError(w, r, p, http.StatusNotFound, "No such study.")
		return
	}
	if err != nil {
		u.s.internal(w, err)
		return
	}
	u.render(w, http.StatusOK, "study", newPageData(p, "Study "+v.Study, v))
}

// signRequestFromForm reads the signature fields of a form.
func signRequestFromForm(r *http.Request) SignRequest {
	return SignRequest{Password: r.PostFormValue("sign_password"), TOTP: r.PostFormValue("sign_totp"),
		Meaning: r.PostFormValue("meaning")}
}

// signErrorText explains a signature failure on a page.
func signErrorText(err error) string {
	switch {
	case errors.Is(err, ErrSignatureAuth):
		return "Signature refused: wrong password or code (repeated failures lock the account)."
	case errors.Is(err, ErrSignatureMeaning):
		return "Choose the meaning of your signature."
	case errors.Is(err, store.ErrConflict):
		return "Already signed."
	}
	return ""
}

func (u *webUI) releaseSubmit(w http.ResponseWriter, r *http.Request) {
	p := principalFrom(r.Context())
	_, err := u.s.ReleaseStudy(r.Context(), p, r.PathValue("project"), r.PathValue("study"), signRequestFromForm(r), clientIP(r))
	if msg := signErrorText(err); msg != "" {
		v, verr := u.studyView(r)
		if verr != nil {
			u.s.renderError(w, r, p, http.StatusUnprocessableEntity, msg)
			return
		}
		d := newPageData(p, "Study "+v.Study, v)
		d.Error = msg
		u.render(w, http.StatusUnprocessableEntity, "study", d)
		return
	}
	if errors.Is(err, store.ErrNotExist) {
		u.s.renderError(w, r, p, http.StatusNotFound, "No such study.")
		return
	}
	if err != nil {
		u.s.internal(w, err)
		return
	}
	http.Redirect(w, r, r.URL.Path[:len(r.URL.Path)-len("/release")], http.StatusSeeOther)
}

// sitesView is the sites page's data.
type sitesView struct {
	Projects []string
	Agents   []store.Agent
	Token    string
}

func (u *webUI) sitesData(r *http.Request) (*sitesView, error) {
	p := principalFrom(r.Context())
	res, err := u.s.resources()
	if err != nil {
		return nil, err
	}
	v := &sitesView{}
	for _, id := range u.s.visibleProjects(p) {
		if !allowed(p.Grants, permSiteManage, id) {
			continue
		}
		v.Projects = append(v.Projects, id)
		as, err := res.db.ListAgents(r.Context(), id)
		if err != nil {
			return nil, err
		}
		v.Agents = append(v.Agents, as...)
	}
	return v, nil
}

func (u *webUI) sitesPage(w http.ResponseWriter, r *http.Request) {
	v, err := u.sitesData(r)
	if err != nil {
		u.s.internal(w, err)
		return
	}
	u.render(w, http.StatusOK, "sites", newPageData(principalFrom(r.Context()), "Sites", v))
}

func (u *webUI) tokenSubmit(w http.ResponseWriter, r *http.Request) {
	p := principalFrom(r.Context())
	tok, err := u.s.createEnrolmentTokenBy(r, p.Name, r.PostFormValue("project"), r.PostFormValue("site"))
	v, verr := u.sitesData(r)
	if verr != nil {
		u.s.internal(w, verr)
		return
	}
	d := newPageData(p, "Sites", v)
	if err != nil {
		d.Error = "Could not create the token: check the project and the site name."
		u.render(w, http.StatusUnprocessableEntity, "sites", d)
		return
	}
	v.Token = tok
	u.render(w, http.StatusOK, "sites", d)
}

func (u *webUI) revokeSubmit(w http.ResponseWriter, r *http.Request) {
	p := principalFrom(r.Context())
	if len(p.Grants) == 0 {
		u.s.renderError(w, r, p, http.StatusNotFound, "No such agent.")
		return
	}
	if err := u.s.revokeAgentBy(r, p.Name, r.PathValue("agent")); err != nil {
		u.s.internal(w, err)
		return
	}
	http.Redirect(w, r, "/ui/sites", http.StatusSeeOther)
}

// revisionView is a revision in the policy list.
type revisionView struct {
	store.PolicyRevision
	Approved []string
}

func (u *webUI) policiesPage(w http.ResponseWriter, r *http.Request) {
	p := principalFrom(r.Context())
	st, err := u.s.accountStore()
	if err != nil {
		u.s.internal(w, err)
		return
	}
	revs, err := st.ListPolicies(r.Context(), "")
	if err != nil {
		u.s.internal(w, err)
		return
	}
	approvals, err := st.ListApprovals(r.Context(), "")
	if err != nil {
		u.s.internal(w, err)
		return
	}
	var views []revisionView
	for _, rev := range revs {
		v := revisionView{PolicyRevision: rev}
		for _, a := range approvals {
			if a.PolicyRevision == rev.ID {
				v.Approved = append(v.Approved, a.Project)
			}
		}
		views = append(views, v)
	}
	u.render(w, http.StatusOK, "policies", newPageData(p, "Policies", map[string]any{
		"Revisions": views, "CanEdit": allowed(p.Grants, permPolicyEdit, AllProjects)}))
}

// policyEditView is the policy editor's data.
type policyEditView struct {
	YAML     string
	Problems []PolicyProblem
}

func (u *webUI) policyEditPage(w http.ResponseWriter, r *http.Request) {
	p := principalFrom(r.Context())
	v := policyEditView{YAML: "id: my-policy\nversion: 1\nprofile: basic\n"}
	if from, err := strconv.ParseInt(r.URL.Query().Get("from"), 10, 64); err == nil {
		st, err := u.s.accountStore()
		if err != nil {
			u.s.internal(w, err)
			return
		}
		if rev, err := st.GetPolicy(r.Context(), from); err == nil {
			v.YAML = rev.YAML
		}
	}
	u.render(w, http.StatusOK, "policy_edit", newPageData(p, "Edit policy", v))
}

func (u *webUI) policySubmit(w http.ResponseWriter, r *http.Request) {
	p := principalFrom(r.Context())
	text := r.PostFormValue("yaml")
	rev, err := u.s.SavePolicy(r.Context(), p.Name, text, clientIP(r))
	if probs := policyProblems(err); probs != nil || errors.Is(err, ErrPolicyVersionApproved) {
		d := newPageData(p, "Edit policy", policyEditView{YAML: text, Problems: probs})
		if probs == nil {
			d.Error = "This version is approved: give the edited policy a new version number."
		}
		u.render(w, http.StatusUnprocessableEntity, "policy_edit", d)
		return
	}
	if err != nil {
		u.s.internal(w, err)
		return
	}
	http.Redirect(w, r, "/ui/policies/"+strconv.FormatInt(rev.ID, 10), http.StatusSeeOther)
}

// approvalView is an approval on the policy page.
type approvalView struct {
	Project string
	Sig     *store.Signature
	Valid   bool
}

// policyView is the policy page's data.
type policyView struct {
	Rev             *store.PolicyRevision
	History         []store.PolicyRevision
	Previous        *store.PolicyRevision // the revision before Rev, if any
	Diff            []diffLine            // from Previous to Rev
	Approvals       []approvalView
	ApproveProjects []string
	CanEdit         bool
}

// pathRevision loads the policy revision named by the {rev} path value;
// store.ErrNotExist when it is malformed or unknown.
func (u *webUI) pathRevision(r *http.Request) (store.AccountStore, *store.PolicyRevision, error) {
	st, err := u.s.accountStore()
	if err != nil {
		return nil, nil, err
	}
	id, err := strconv.ParseInt(r.PathValue("rev"), 10, 64)
	if err != nil {
		return nil, nil, store.ErrNotExist
	}
	rev, err := st.GetPolicy(r.Context(), id)
	return st, rev, err
}

func (u *webUI) policyData(r *http.Request) (*policyView, error) {
	p := principalFrom(r.Context())
	st, rev, err := u.pathRevision(r)
	if err != nil {
		return nil, err
	}
	v := &policyView{Rev: rev, CanEdit: allowed(p.Grants, permPolicyEdit, AllProjects)}
	if v.History, err = st.ListPolicies(r.Context(), rev.PolicyID); err != nil {
		return nil, err
	}
	if v.Previous = previousRevision(v.History, rev); v.Previous != nil {
		v.Diff = lineDiff(v.Previous.YAML, rev.YAML)
	}
	approvals, err := st.ListApprovals(r.Context(), "")
	if err != nil {
		return nil, err
	}
	var approvedFor []string
	for _, a := range approvals {
		if a.PolicyRevision != rev.ID {
			continue
		}
		sig, err := st.GetSignature(r.Context(), a.SignatureID)
		if err != nil {
			return nil, err
		}
		v.Approvals = append(v.Approvals, approvalView{Project: a.Project, Sig: sig,
			Valid: u.s.verifySignature(sig, approvalRecord(a.Project, rev)) == nil})
		approvedFor = append(approvedFor, a.Project)
	}
	for _, pc := range u.s.cfg.Projects {
		if allowed(p.Grants, permPolicyApprove, pc.ID) && !slices.Contains(approvedFor, pc.ID) {
			v.ApproveProjects = append(v.ApproveProjects, pc.ID)
		}
	}
	return v, nil
}

func (u *webUI) policyPage(w http.ResponseWriter, r *http.Request) {
	p := principalFrom(r.Context())
	v, err := u.policyData(r)
	if errors.Is(err, store.ErrNotExist) {
		u.s.renderError(w, r, p, http.StatusNotFound, "No such policy revision.")
		return
	}
	if err != nil {
		u.s.internal(w, err)
		return
	}
	u.render(w, http.StatusOK, "policy", newPageData(p, "Policy "+v.Rev.PolicyID, v))
}

func (u *webUI) approveSubmit(w http.ResponseWriter, r *http.Request) {
	p := principalFrom(r.Context())
	id, _ := strconv.ParseInt(r.PathValue("rev"), 10, 64)
	_, err := u.s.ApprovePolicy(r.Context(), p, r.PostFormValue("project"), id, signRequestFromForm(r), clientIP(r))
	if msg := signErrorText(err); msg != "" {
		v, verr := u.policyData(r)
		if verr != nil {
			u.s.renderError(w, r, p, http.StatusUnprocessableEntity, msg)
			return
		}
		d := newPageData(p, "Policy "+v.Rev.PolicyID, v)
		d.Error = msg
		u.render(w, http.StatusUnprocessableEntity, "policy", d)
		return
	}
	if errors.Is(err, store.ErrNotExist) || errors.Is(err, ErrUnknownProject) {
		u.s.renderError(w, r, p, http.StatusNotFound, "No such policy revision or project.")
		return
	}
	if err != nil {
		u.s.internal(w, err)
		return
	}
	http.Redirect(w, r, "/ui/policies/"+strconv.FormatInt(id, 10), http.StatusSeeOther)
}

// usersView is the users page's data.
type usersView struct {
	Users     []AccountInfo
	Roles     []Role
	Projects  []string
	Actions   []string
	Temporary *struct{ Login, Password string }
}

func (u *webUI) usersData(r *http.Request) (*usersView, error) {
	as, err := u.s.ListAccounts(r.Context())
	if err != nil {
		return nil, err
	}
	v := &usersView{Users: as, Roles: Roles(), Projects: []string{AllProjects},
		Actions: []string{"disable", "enable", "unlock", "reset-password"}}
	for _, pc := range u.s.cfg.Projects {
		v.Projects = append(v.Projects, pc.ID)
	}
	return v, nil
}

// renderUsers renders the users page with a flash, error or temporary
// password.
func (u *webUI) renderUsers(w http.ResponseWriter, r *http.Request, status int, errMsg, login, temp string) {
	v, err := u.usersData(r)
	if err != nil {
		u.s.internal(w, err)
		return
	}
	if temp != "" {
		v.Temporary = &struct{ Login, Password string }{login, temp}
	}
	d := newPageData(principalFrom(r.Context()), "Users & roles", v)
	d.Error = errMsg
	u.render(w, status, "users", d)
}

func (u *webUI) usersPage(w http.ResponseWriter, r *http.Request) {
	u.renderUsers(w, r, http.StatusOK, "", "", "")
}

// accountErrorText explains an account administration error on a page.
func accountErrorText(err error) string {
	switch {
	case errors.Is(err, ErrAccountExists), errors.Is(err, ErrNoAccount), errors.Is(err, ErrInvalidAccount),
		errors.Is(err, ErrAccountHasRecords):
		return err.Error()
	}
	return ""
}

func (u *webUI) createUserSubmit(w http.ResponseWriter, r *http.Request) {
	p := principalFrom(r.Context())
	login := r.PostFormValue("login")
	pw, err := u.s.CreateAccount(r.Context(), p.Name, login, r.PostFormValue("full_name"),
		[]store.Grant{{Project: r.PostFormValue("project"), Role: r.PostFormValue("role")}})
	if msg := accountErrorText(err); msg != "" {
		u.renderUsers(w, r, http.StatusUnprocessableEntity, msg, "", "")
		return
	}
	if err != nil {
		u.s.internal(w, err)
		return
	}
	u.renderUsers(w, r, http.StatusOK, "", login, pw)
}

func (u *webUI) grantSubmit(w http.ResponseWriter, r *http.Request) {
	p := principalFrom(r.Context())
	g := store.Grant{Account: r.PostFormValue("login"), Project: r.PostFormValue("project"), Role: r.PostFormValue("role")}
	err := u.s.GrantRole(r.Context(), p.Name, g, r.PostFormValue("revoke") == "")
	if msg := accountErrorText(err); msg != "" {
		u.renderUsers(w, r, http.StatusUnprocessableEntity, msg, "", "")
		return
	}
	if err != nil {
		u.s.internal(w, err)
		return
	}
	http.Redirect(w, r, "/ui/users", http.StatusSeeOther)
}

func (u *webUI) userActionSubmit(w http.ResponseWriter, r *http.Request) {
	p := principalFrom(r.Context())
	ctx, login := r.Context(), r.PathValue("name")
	var err error
	temp := ""
	switch r.PathValue("action") {
	case "disable":
		err = u.s.SetAccountEnabled(ctx, p.Name, login, false)
	case "enable":
		err = u.s.SetAccountEnabled(ctx, p.Name, login, true)
	case "unlock":
		err = u.s.UnlockAccount(ctx, p.Name, login)
	case "reset-password":
		temp, err = u.s.ResetPassword(ctx, p.Name, login)
	default:
		u.s.renderError(w, r, p, http.StatusNotFound, "No such action.")
		return
	}
	if msg := accountErrorText(err); msg != "" {
		u.renderUsers(w, r, http.StatusUnprocessableEntity, msg, "", "")
		return
	}
	if err != nil {
		u.s.internal(w, err)
		return
	}
	u.renderUsers(w, r, http.StatusOK, "", login, temp)
}

// auditView is the audit page's data.
type auditView struct {
	Filter               audit.Filter
	Action, Since, Until string
	Actions              []audit.Action
	Entries              []audit.Entry
	CanExport            bool
}

func (u *webUI) auditData(r *http.Request) (*auditView, error) {
	p := principalFrom(r.Context())
	f, err := auditFilterFromQuery(r)
	if err != nil {
		return nil, err
	}
	v := &auditView{Filter: f, Action: string(f.Action), Actions: audit.Actions(),
		CanExport: allowed(p.Grants, permAuditExport, projectOrAll(f.Project))}
	get := func(k string) string {
		if x := r.URL.Query().Get(k); x != "" {
			return x
		}
		return r.PostFormValue(k)
	}
	v.Since, v.Until = get("since"), get("until")
	if v.Entries, err = u.s.queryAudit(r, f, 200); err != nil {
		return nil, err
	}
	slices.Reverse(v.Entries)
	return v, nil
}

// projectOrAll is project, or AllProjects when empty.
func projectOrAll(p string) string {
	if p == "" {
		return AllProjects
	}
	return p
}

func (u *webUI) auditPage(w http.ResponseWriter, r *http.Request) {
	p := principalFrom(r.Context())
	v, err := u.auditData(r)
	if err != nil {
		u.s.renderError(w, r, p, http.StatusBadRequest, "Bad filter: "+err.Error())
		return
	}
	u.render(w, http.StatusOK, "audit", newPageData(p, "Audit trail", v))
}

func (u *webUI) exportSubmit(w http.ResponseWriter, r *http.Request) {
	p := principalFrom(r.Context())
	f, err := auditFilterFromQuery(r)
	if err != nil {
		u.s.renderError(w, r, p, http.StatusBadRequest, "Bad filter: "+err.Error())
		return
	}
	format, err := audit.ParseFormat(r.PostFormValue("format"))
	if err != nil {
		u.s.renderError(w, r, p, http.StatusBadRequest, "Choose csv, json or pdf.")
		return
	}
	var buf bytes.Buffer
	sig, err := u.s.ExportAudit(r.Context(), &buf, p, format, f, signRequestFromForm(r), clientIP(r))
	if msg := signErrorText(err); msg != "" {
		v, verr := u.auditData(r)
		if verr != nil {
			u.s.renderError(w, r, p, http.StatusUnprocessableEntity, msg)
			return
		}
		d := newPageData(p, "Audit trail", v)
		d.Error = msg
		u.render(w, http.StatusUnprocessableEntity, "audit", d)
		return
	}
	if err != nil {
		u.s.internal(w, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", exportContentType(format))
	h.Set("Content-Disposition", `attachment; filename="audit-`+sig.SignedAt.Format("20060102T150405Z")+"."+string(format)+`"`)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Signature-Id", strconv.FormatInt(sig.ID, 10))
	w.Write(buf.Bytes())
}
