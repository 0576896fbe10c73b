package relay

import "net/http"

// apiRoutes is every authenticated API endpoint with the permission it
// needs and where its project comes from: the single place API
// authorisation is declared (relay/session_routes_test.go checks each
// route against each role).
func (s *Server) apiRoutes() []route {
	return []route{
		// Core labs (existing endpoints; bearer-token readers are
		// corelab_reader on their projects).
		{pattern: "GET /api/v1/projects/{project}/studies", perm: permStudyRead, scope: scopePath, h: s.handleStudies},
		{pattern: "GET /api/v1/projects/{project}/studies/{study}/files", perm: permStudyRead, scope: scopePath, h: s.handleFiles},
		{pattern: "GET /api/v1/projects/{project}/agents", perm: permStudyRead, scope: scopePath, h: s.handleAgents},
		{pattern: "GET /api/v1/files/{file}/manifest", perm: permStudyRead, scope: scopeFile, h: s.handleManifest},
		{pattern: "GET /api/v1/files/{file}/object", perm: permDownload, scope: scopeFile, h: s.handleObject},

		// The caller's own session and account.
		{pattern: "GET /api/v1/session", perm: permAuthenticated, restrictedOK: true, h: s.handleSessionInfo},
		{pattern: "DELETE /api/v1/session", perm: permAuthenticated, restrictedOK: true, h: s.handleLogout},
		{pattern: "POST /api/v1/account/password", perm: permAuthenticated, restrictedOK: true, h: s.handleChangePassword},
		{pattern: "POST /api/v1/account/totp", perm: permAuthenticated, restrictedOK: true, h: s.handleTOTPStart},
		{pattern: "POST /api/v1/account/totp/confirm", perm: permAuthenticated, restrictedOK: true, h: s.handleTOTPConfirm},

		{pattern: "GET /api/v1/dashboard", perm: permDashboard, scope: scopeAny, h: s.handleDashboard},

		// Accounts (relay-wide admins).
		{pattern: "GET /api/v1/users", perm: permUserManage, scope: scopeGlobal, h: s.handleListUsers},
		{pattern: "POST /api/v1/users", perm: permUserManage, scope: scopeGlobal, h: s.handleCreateUser},
		{pattern: "POST /api/v1/users/{name}/{action}", perm: permUserManage, scope: scopeGlobal, h: s.handleUserAction},
		{pattern: "POST /api/v1/users/{name}/grants", perm: permUserManage, scope: scopeGlobal, h: s.handleGrant},
		{pattern: "DELETE /api/v1/users/{name}", perm: permUserManage, scope: scopeGlobal, h: s.handleDeleteUser},

		// Sites.
		{pattern: "POST /api/v1/projects/{project}/enrolment-tokens", perm: permSiteManage, scope: scopePath, h: s.handleCreateToken},
		{pattern: "POST /api/v1/agents/{agent}/revoke", perm: permSiteManage, scope: scopeAgent, h: s.handleRevokeAgent},

		// Policy registry and approvals (signatures).
		{pattern: "GET /api/v1/policies", perm: permPolicyRead, scope: scopeAny, h: s.handleListPolicies},
		{pattern: "POST /api/v1/policies", perm: permPolicyEdit, scope: scopeGlobal, h: s.handleSavePolicy},
		{pattern: "GET /api/v1/policies/{rev}", perm: permPolicyRead, scope: scopeAny, h: s.handleGetPolicy},
		{pattern: "GET /api/v1/projects/{project}/approvals", perm: permPolicyRead, scope: scopePath, h: s.handleListApprovals},
		{pattern: "POST /api/v1/projects/{project}/policies/{rev}/approve", perm: permPolicyApprove, scope: scopePath, h: s.handleApprovePolicy},

		// Study release (signature).
		{pattern: "POST /api/v1/projects/{project}/studies/{study}/release", perm: permStudyRelease, scope: scopePath, h: s.handleRelease},

		// Audit trail.
		{pattern: "GET /api/v1/audit", perm: permAuditRead, scope: scopeQuery, h: s.handleAuditQuery},
		{pattern: "POST /api/v1/audit/export", perm: permAuditExport, scope: scopeQuery, h: s.handleExport},
	}
}

// registerRoutes adds the API's routes, the web UI and sign-in to mux.
func (s *Server) registerRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /api/v1/session", s.handleLogin)
	for _, rt := range s.apiRoutes() {
		mux.Handle(rt.pattern, s.guard(rt))
	}
	s.registerAgentAPI(mux)
	s.registerWeb(mux)
}

// securityHeaders sets the headers every response of the HTTPS listener
// carries: a strict CSP, no framing, no sniffing, HSTS, no referrer.
func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		hd.Set("Referrer-Policy", "no-referrer")
		h.ServeHTTP(w, r)
	})
}
