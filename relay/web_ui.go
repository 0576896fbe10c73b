package relay

import (
	"bytes"
	"crypto/subtle"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
	"time"
)

// webFiles are the web UI's templates and static assets: server-rendered
// HTML, no script, no build step.
//
//go:embed web/templates/*.html web/static/*
var webFiles embed.FS

// loginCSRFCookie carries the sign-in form's anti-forgery token (double
// submit: the form must send the same value).
const loginCSRFCookie = "__Host-dg_login_csrf"

// webPages lists the page templates.
func webPages() []string {
	return []string{"login", "password", "totp", "error", "dashboard", "projects", "study", "sites", "policies",
		"policy_edit", "policy", "policytest", "users", "audit", "quarantine"}
}

// parsePage parses the layout with one page's template.
func parsePage(name string) (*template.Template, error) {
	t, err := template.ParseFS(webFiles, "web/templates/layout.html", "web/templates/"+name+".html")
	if err != nil {
		return nil, fmt.Errorf("relay: web template %s: %w", name, err)
	}
	return t, nil
}

// webUI serves the web UI's pages.
type webUI struct {
	s      *Server
	pages  map[string]*template.Template
	tester *policyTester
}

// navItem is one link of the navigation bar.
type navItem struct{ Href, Label string }

// pageData is what every page template gets.
type pageData struct {
	Title    string
	P        *Principal
	FullName string
	CSRF     string
	Nav      []navItem
	Flash    string
	Error    string
	TOTP     bool
	Meanings []string
	Data     any
}

// newPageData fills the common fields for p.
func newPageData(p *Principal, title string, data any) *pageData {
	d := &pageData{Title: title, P: p, Data: data, Meanings: SignatureMeanings()}
	if p == nil {
		return d
	}
	if cs := p.session; cs != nil {
		d.FullName, d.CSRF, d.TOTP = cs.account.FullName, cs.sess.CSRF, cs.account.TOTPEnabled()
		if cs.restricted != "" {
			return d
		}
	}
	for _, n := range []struct {
		perm        permission
		href, label string
	}{
		{permDashboard, "/ui/", "Dashboard"}, {permStudyRead, "/ui/projects", "Projects & studies"},
		{permSiteManage, "/ui/sites", "Sites"}, {permSiteManage, "/ui/quarantine", "Quarantine"}, {permPolicyRead, "/ui/policies", "Policies"},
		{permUserManage, "/ui/users", "Users & roles"}, {permAuditRead, "/ui/audit", "Audit trail"},
	} {
		scopeProject := ""
		if n.perm == permUserManage {
			scopeProject = AllProjects
		}
		if allowed(p.Grants, n.perm, scopeProject) {
			d.Nav = append(d.Nav, navItem{n.href, n.label})
		}
	}
	if p.session != nil {
		d.Nav = append(d.Nav, navItem{"/ui/password", "Password"}, navItem{"/ui/totp", "Second factor"})
	}
	return d
}

// render writes page name with d (status 200 unless d.Error is set on a
// POST: 422).
func (u *webUI) render(w http.ResponseWriter, status int, name string, d *pageData) {
	var buf bytes.Buffer
	if err := u.pages[name].ExecuteTemplate(&buf, "layout", d); err != nil {
		u.s.internal(w, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// renderError answers an HTML error page.
func (s *Server) renderError(w http.ResponseWriter, r *http.Request, p *Principal, status int, msg string) {
	t, err := parsePage("error")
	if err != nil {
		s.internal(w, err)
		return
	}
	d := newPageData(p, http.StatusText(status), nil)
	d.Error = msg
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", d); err != nil {
		s.internal(w, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// registerWeb adds the web UI to mux: sign-in and static assets without
// authentication, every other page through the guard.
func (s *Server) registerWeb(mux *http.ServeMux) {
	u := &webUI{s: s, pages: map[string]*template.Template{}, tester: newPolicyTester()}
	for _, name := range webPages() {
		t, err := parsePage(name)
		if err != nil {
			panic(err) // embedded templates: a broken one is a build error caught by the tests
		}
		u.pages[name] = t
	}
	static, _ := fs.Sub(webFiles, "web/static")
	mux.Handle("GET /ui/static/", http.StripPrefix("/ui/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/ui/", http.StatusSeeOther) })
	mux.HandleFunc("GET /ui/login", u.loginPage)
	mux.HandleFunc("POST /ui/login", u.loginSubmit)
	for _, rt := range u.routes() {
		rt.html = true
		h := s.guard(rt)
		if rt.pattern == policyTestPattern {
			h = s.inMemorySample(h)
		}
		mux.Handle(rt.pattern, h)
	}
}

// routes are the authenticated pages, declared like the API's.
func (u *webUI) routes() []route {
	return []route{
		{pattern: "POST /ui/logout", perm: permAuthenticated, restrictedOK: true, h: u.logout},
		{pattern: "GET /ui/password", perm: permAuthenticated, restrictedOK: true, h: u.passwordPage},
		{pattern: "POST /ui/password", perm: permAuthenticated, restrictedOK: true, h: u.passwordSubmit},
		{pattern: "GET /ui/totp", perm: permAuthenticated, restrictedOK: true, h: u.totpPage},
		{pattern: "POST /ui/totp", perm: permAuthenticated, restrictedOK: true, h: u.totpSubmit},
		{pattern: "GET /ui/{$}", perm: permDashboard, scope: scopeAny, h: u.dashboardPage},
		{pattern: "GET /ui/projects", perm: permStudyRead, scope: scopeAny, h: u.projectsPage},
		{pattern: "GET /ui/projects/{project}/studies/{study}", perm: permStudyRead, scope: scopePath, h: u.studyPage},
		{pattern: "POST /ui/projects/{project}/studies/{study}/release", perm: permStudyRelease, scope: scopePath, h: u.releaseSubmit},
		{pattern: "GET /ui/sites", perm: permSiteManage, scope: scopeAny, h: u.sitesPage},
		{pattern: "POST /ui/sites/token", perm: permSiteManage, scope: scopeQuery, h: u.tokenSubmit},
		{pattern: "POST /ui/agents/{agent}/revoke", perm: permSiteManage, scope: scopeAgent, h: u.revokeSubmit},
		{pattern: "GET /ui/quarantine", perm: permSiteManage, scope: scopeAny, h: u.quarantinePage},
		{pattern: "POST /ui/quarantine/decide", perm: permSiteManage, scope: scopeQuery, h: u.quarantineSubmit},
		{pattern: "GET /ui/policies", perm: permPolicyRead, scope: scopeAny, h: u.policiesPage},
		{pattern: "GET /ui/policies/new", perm: permPolicyEdit, scope: scopeGlobal, h: u.policyEditPage},
		{pattern: "POST /ui/policies", perm: permPolicyEdit, scope: scopeGlobal, h: u.policySubmit},
		{pattern: "GET /ui/policies/{rev}", perm: permPolicyRead, scope: scopeAny, h: u.policyPage},
		{pattern: "GET /ui/policies/{rev}/test", perm: permPolicyEdit, scope: scopeAny, h: u.policyTestPage},
		{pattern: policyTestPattern, perm: permPolicyEdit, scope: scopeQuery, h: u.policyTestSubmit},
		{pattern: "POST /ui/policies/{rev}/approve", perm: permPolicyApprove, scope: scopeQuery, h: u.approveSubmit},
		{pattern: "GET /ui/users", perm: permUserManage, scope: scopeGlobal, h: u.usersPage},
		{pattern: "POST /ui/users", perm: permUserManage, scope: scopeGlobal, h: u.createUserSubmit},
		{pattern: "POST /ui/users/grant", perm: permUserManage, scope: scopeGlobal, h: u.grantSubmit},
		{pattern: "POST /ui/users/{name}/{action}", perm: permUserManage, scope: scopeGlobal, h: u.userActionSubmit},
		{pattern: "GET /ui/audit", perm: permAuditRead, scope: scopeQuery, h: u.auditPage},
		{pattern: "POST /ui/audit/export", perm: permAuditExport, scope: scopeQuery, h: u.exportSubmit},
	}
}

// setCookie sets a Secure, HttpOnly, SameSite=Strict cookie on path /.
func setCookie(w http.ResponseWriter, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/", Secure: true, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, MaxAge: maxAge})
}

// safeNext returns a local redirect target, "/ui/" unless next is one.
func safeNext(next string) string {
	if strings.HasPrefix(next, "/ui/") && !strings.HasPrefix(next, "//") && !strings.ContainsAny(next, "\\\r\n") {
		return next
	}
	return "/ui/"
}

func (u *webUI) loginPage(w http.ResponseWriter, r *http.Request) {
	tok, err := randomToken("")
	if err != nil {
		u.s.internal(w, err)
		return
	}
	setCookie(w, loginCSRFCookie, tok, 3600)
	d := newPageData(nil, "Sign in", safeNext(r.URL.Query().Get("next")))
	d.CSRF = tok
	if r.URL.Query().Get("ended") != "" {
		d.Flash = "You are signed out."
	}
	u.render(w, http.StatusOK, "login", d)
}

func (u *webUI) loginSubmit(w http.ResponseWriter, r *http.Request) {
	c, err := r.Cookie(loginCSRFCookie)
	if err != nil || subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.PostFormValue("csrf"))) != 1 {
		u.s.renderError(w, r, nil, http.StatusForbidden, "The sign-in form expired; reload the page.")
		return
	}
	res, err := u.s.Login(r.Context(), r.PostFormValue("login"), r.PostFormValue("password"), r.PostFormValue("totp"), clientIP(r))
	if errors.Is(err, ErrLoginFailed) {
		d := newPageData(nil, "Sign in", safeNext(r.PostFormValue("next")))
		d.CSRF, d.Error = c.Value, "Sign-in failed: wrong login, password or code, or the account is locked or disabled."
		u.render(w, http.StatusUnauthorized, "login", d)
		return
	}
	if err != nil {
		u.s.internal(w, err)
		return
	}
	setCookie(w, loginCSRFCookie, "", -1)
	setCookie(w, sessionCookie, res.Token, int(u.s.cfg.Accounts.SessionMaxAge/time.Second))
	switch res.Restricted {
	case restrictPasswordChange:
		http.Redirect(w, r, "/ui/password", http.StatusSeeOther)
	case restrictTOTPEnrol:
		http.Redirect(w, r, "/ui/totp", http.StatusSeeOther)
	default:
		http.Redirect(w, r, safeNext(r.PostFormValue("next")), http.StatusSeeOther)
	}
}

func (u *webUI) logout(w http.ResponseWriter, r *http.Request) {
	if principalFrom(r.Context()).session != nil {
		if err := u.s.Logout(r.Context(), sessionToken(r), clientIP(r)); err != nil {
			u.s.log.Error().Err(err).Msg("logout")
		}
	}
	setCookie(w, sessionCookie, "", -1)
	http.Redirect(w, r, "/ui/login?ended=1", http.StatusSeeOther)
}

func (u *webUI) passwordPage(w http.ResponseWriter, r *http.Request) {
	p := principalFrom(r.Context())
	must := p.session != nil && p.session.restricted == restrictPasswordChange
	u.render(w, http.StatusOK, "password", newPageData(p, "Password", must))
}

func (u *webUI) passwordSubmit(w http.ResponseWriter, r *http.Request) {
	p := principalFrom(r.Context())
	must := p.session != nil && p.session.restricted == restrictPasswordChange
	d := newPageData(p, "Password", must)
	if r.PostFormValue("new") != r.PostFormValue("confirm") {
		d.Error = "The two new passwords differ."
		u.render(w, http.StatusUnprocessableEntity, "password", d)
		return
	}
	err := u.s.ChangePassword(r.Context(), p, r.PostFormValue("current"), r.PostFormValue("new"), clientIP(r))
	if errors.Is(err, ErrWeakPassword) || errors.Is(err, ErrUnauthenticated) {
		d.Error = strings.TrimPrefix(err.Error(), "relay: ")
		u.render(w, http.StatusUnprocessableEntity, "password", d)
		return
	}
	if err != nil {
		u.s.internal(w, err)
		return
	}
	http.Redirect(w, r, "/ui/", http.StatusSeeOther)
}

// totpView is the TOTP page's data.
type totpView struct {
	Enrolled    bool
	Secret, URL string
}

func (u *webUI) totpPage(w http.ResponseWriter, r *http.Request) {
	p := principalFrom(r.Context())
	if p.session == nil {
		u.s.renderError(w, r, p, http.StatusBadRequest, "Only accounts enrol a second factor.")
		return
	}
	if p.session.account.TOTPEnabled() {
		u.render(w, http.StatusOK, "totp", newPageData(p, "Second factor", totpView{Enrolled: true}))
		return
	}
	secret, url, err := u.s.StartTOTPEnrolment(r.Context(), p)
	if err != nil {
		u.s.internal(w, err)
		return
	}
	d := newPageData(p, "Second factor", totpView{Secret: secret, URL: url})
	if p.session.restricted == restrictTOTPEnrol {
		d.Flash = "Your role requires a second factor: enrol one to continue."
	}
	u.render(w, http.StatusOK, "totp", d)
}

func (u *webUI) totpSubmit(w http.ResponseWriter, r *http.Request) {
	p := principalFrom(r.Context())
	if err := u.s.ConfirmTOTP(r.Context(), p, r.PostFormValue("code"), clientIP(r)); err != nil {
		u.s.renderError(w, r, p, http.StatusUnprocessableEntity, "Wrong code: the enrolment starts again.")
		return
	}
	http.Redirect(w, r, "/ui/", http.StatusSeeOther)
}
