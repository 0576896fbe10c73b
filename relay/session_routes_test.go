package relay

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"dicomgate/audit"
	"dicomgate/transport"
)

// TestRoleBoundaries calls every API route as every role: an allowed
// call is neither 401 nor 403; a forbidden one is 403 and audited as
// access.denied. The expectations are written out here, independently of
// the permission matrix in the code.
func TestRoleBoundaries(t *testing.T) {
	ctx := context.Background()
	e := startAccountRelay(t, testAccounts())
	a := e.enrol(t, testProject, testSite, transport.ModeTCP)
	f := e.seal(t, a, fileSpec{size: 3000})
	if _, err := a.upload(ctx, f); err != nil {
		t.Fatal(err)
	}
	if _, err := e.srv.SavePolicy(ctx, "test", "id: p1\nversion: 1\nprofile: basic\n", ""); err != nil {
		t.Fatal(err)
	}
	tokens := map[string]string{
		"gadmin":  e.ready(t, "gadmin", grant(AllProjects, RoleAdmin)),
		"padmin":  e.ready(t, "padmin", grant(testProject, RoleAdmin)),
		"siteop":  e.ready(t, "siteop", grant(testProject, RoleSiteOperator)),
		"reader":  e.ready(t, "reader", grant(testProject, RoleCorelabReader)),
		"auditor": e.ready(t, "auditor", grant(testProject, RoleAuditor)),
		"token":   e.token, // a bearer-token reader of relay.yaml
	}
	roles := []string{"gadmin", "padmin", "siteop", "reader", "auditor", "token"}
	all := roles
	readers := []string{"gadmin", "padmin", "reader", "auditor", "token"}
	policyReaders := []string{"gadmin", "padmin", "siteop", "auditor"}
	siteManagers := []string{"gadmin", "padmin", "siteop"}
	admins := []string{"gadmin", "padmin"}
	p, study := testProject, f.manifest.StudyInstanceUID
	tests := []struct {
		pattern string // as in apiRoutes
		path    string // concrete path
		allowed []string
	}{
		{"GET /api/v1/projects/{project}/studies", "/api/v1/projects/" + p + "/studies", readers},
		{"GET /api/v1/projects/{project}/studies/{study}/files", "/api/v1/projects/" + p + "/studies/" + study + "/files", readers},
		{"GET /api/v1/projects/{project}/agents", "/api/v1/projects/" + p + "/agents", readers},
		{"GET /api/v1/files/{file}/manifest", "/api/v1/files/" + f.offer.ID + "/manifest", readers},
		{"GET /api/v1/files/{file}/object", "/api/v1/files/" + f.offer.ID + "/object", []string{"reader", "token"}},
		{"GET /api/v1/session", "/api/v1/session", all},
		{"POST /api/v1/account/password", "/api/v1/account/password", all},
		{"POST /api/v1/account/totp", "/api/v1/account/totp", all},
		{"POST /api/v1/account/totp/confirm", "/api/v1/account/totp/confirm", all},
		{"GET /api/v1/dashboard", "/api/v1/dashboard", all},
		{"GET /api/v1/users", "/api/v1/users", []string{"gadmin"}},
		{"POST /api/v1/users", "/api/v1/users", []string{"gadmin"}},
		{"POST /api/v1/users/{name}/{action}", "/api/v1/users/nobody/disable", []string{"gadmin"}},
		{"POST /api/v1/users/{name}/grants", "/api/v1/users/nobody/grants", []string{"gadmin"}},
		{"DELETE /api/v1/users/{name}", "/api/v1/users/nobody", []string{"gadmin"}},
		{"POST /api/v1/projects/{project}/enrolment-tokens", "/api/v1/projects/" + p + "/enrolment-tokens", siteManagers},
		{"POST /api/v1/agents/{agent}/revoke", "/api/v1/agents/" + a.id + "/revoke", siteManagers},
		{"GET /api/v1/policies", "/api/v1/policies", policyReaders},
		{"POST /api/v1/policies", "/api/v1/policies", []string{"gadmin"}},
		{"GET /api/v1/policies/{rev}", "/api/v1/policies/1", policyReaders},
		{"GET /api/v1/projects/{project}/approvals", "/api/v1/projects/" + p + "/approvals", policyReaders},
		{"POST /api/v1/projects/{project}/policies/{rev}/approve", "/api/v1/projects/" + p + "/policies/1/approve", admins},
		{"POST /api/v1/projects/{project}/studies/{study}/release", "/api/v1/projects/" + p + "/studies/" + study + "/release", admins},
		{"GET /api/v1/audit", "/api/v1/audit?project=" + p, []string{"gadmin", "padmin", "auditor"}},
		{"POST /api/v1/audit/export", "/api/v1/audit/export?project=" + p, []string{"gadmin", "padmin", "auditor"}},
		{"GET /api/v1/audit", "/api/v1/audit", []string{"gadmin"}},                // relay-wide
		{"POST /api/v1/audit/export", "/api/v1/audit/export", []string{"gadmin"}}, // relay-wide
		{"DELETE /api/v1/session", "/api/v1/session", all},                        // last: ends the session
	}
	var covered []string
	for _, tc := range tests {
		covered = append(covered, tc.pattern)
	}
	for _, rt := range e.srv.apiRoutes() {
		if !slices.Contains(covered, rt.pattern) {
			t.Errorf("route %s has no role expectations", rt.pattern)
		}
	}
	for _, tc := range tests {
		method, _, _ := strings.Cut(tc.pattern, " ")
		for _, role := range roles {
			t.Run(tc.path+"/"+role, func(t *testing.T) {
				before := e.auditCount(t, audit.Filter{Action: audit.ActionAccessDenied})
				var body any
				if method == "POST" {
					body = "x" // never the expected JSON: allowed handlers answer 400
				}
				st, b := e.call(t, method, tc.path, tokens[role], body)
				after := e.auditCount(t, audit.Filter{Action: audit.ActionAccessDenied})
				if slices.Contains(tc.allowed, role) {
					if st == http.StatusForbidden || st == http.StatusUnauthorized {
						t.Fatalf("allowed role got %d %s", st, b)
					}
					return
				}
				if st != http.StatusForbidden {
					t.Fatalf("forbidden role got %d %s, want 403", st, b)
				}
				if after != before+1 {
					t.Fatalf("403 not audited (%d -> %d)", before, after)
				}
			})
		}
	}
}

// TestSecurityHeaders checks the headers of the HTTPS listener.
func TestSecurityHeaders(t *testing.T) {
	e := startAccountRelay(t, testAccounts())
	resp, err := e.client("").http().Get(e.apiURL + "/ui/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	want := map[string]string{"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff"}
	for k, v := range want {
		if resp.Header.Get(k) != v {
			t.Errorf("%s = %q", k, resp.Header.Get(k))
		}
	}
	if !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'self'") ||
		!strings.Contains(resp.Header.Get("Strict-Transport-Security"), "max-age=") {
		t.Errorf("csp/hsts missing: %v", resp.Header)
	}
	var found bool
	for _, c := range resp.Cookies() {
		if c.Name == loginCSRFCookie {
			found = c.Secure && c.HttpOnly && c.SameSite == http.SameSiteStrictMode
		}
	}
	if !found {
		t.Error("login csrf cookie not Secure, HttpOnly, SameSite=Strict")
	}
}
