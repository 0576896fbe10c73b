package relay

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"dicomgate/store"
)

// maxJSONBody bounds JSON request bodies.
const maxJSONBody = 1 << 20

// decodeJSON reads a JSON body into v; false (answered 400) on failure.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(io.LimitReader(r.Body, maxJSONBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", "request body is not the expected JSON")
		return false
	}
	return true
}

// loginRequest is the body of POST /api/v1/session.
type loginRequest struct {
	Login    string `json:"login"`
	Password string `json:"password"`
	TOTP     string `json:"totp"`
}

// handleLogin signs in (no authentication needed): 200 with a session
// token, or 401 whatever the cause.
func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	var req loginRequest
	if !decodeBody(w, r, &req) {
		return
	}
	res, err := s.Login(r.Context(), req.Login, req.Password, req.TOTP, clientIP(r))
	if errors.Is(err, ErrLoginFailed) {
		writeError(w, http.StatusUnauthorized, "login_failed", ErrLoginFailed.Error())
		return
	}
	if err != nil {
		s.internal(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// sessionToken returns the session token a request came with.
func sessionToken(r *http.Request) string {
	if _, t, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && strings.HasPrefix(strings.TrimSpace(t), SessionTokenPrefix) {
		return strings.TrimSpace(t)
	}
	if c, err := r.Cookie(sessionCookie); err == nil {
		return c.Value
	}
	return ""
}

func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	if principalFrom(r.Context()).session == nil {
		writeError(w, http.StatusBadRequest, "no_session", "not signed in with an account")
		return
	}
	if err := s.Logout(r.Context(), sessionToken(r), clientIP(r)); err != nil {
		s.internal(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// SessionInfo is the body of GET /api/v1/session.
type SessionInfo struct {
	// Name is the login.
	Name string `json:"name"`
	// FullName is the printed name (accounts only).
	FullName string `json:"full_name,omitempty"`
	// Grants are the caller's roles.
	Grants []store.Grant `json:"grants"`
	// Restricted says what must be done before anything else.
	Restricted string `json:"restricted,omitempty"`
	// TOTP is true when a second factor is enrolled.
	TOTP bool `json:"totp"`
}

func (s *Server) handleSessionInfo(w http.ResponseWriter, r *http.Request) {
	p := principalFrom(r.Context())
	info := SessionInfo{Name: p.Name, Grants: p.Grants}
	if cs := p.session; cs != nil {
		info.FullName, info.Restricted, info.TOTP = cs.account.FullName, cs.restricted, cs.account.TOTPEnabled()
	}
	writeJSON(w, http.StatusOK, info)
}

func (s *Server) handleChangePassword(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Current string `json:"current"`
		New     string `json:"new"`
	}
	if !decodeBody(w, r, &req) {
		return
	}
	err := s.ChangePassword(r.Context(), principalFrom(r.Context()), req.Current, req.New, clientIP(r))
	switch {
	case errors.Is(err, ErrWeakPassword):
		writeError(w, http.StatusUnprocessableEntity, "password_refused", err.Error())
	case errors.Is(err, ErrUnauthenticated):
		writeError(w, http.StatusBadRequest, "no_session", "not signed in with an account")
	case err != nil:
		s.internal(w, err)
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

func (s *Server) handleTOTPStart(w http.ResponseWriter, r *http.Request) {
	secret, url, err := s.StartTOTPEnrolment(r.Context(), principalFrom(r.Context()))
	if errors.Is(err, ErrUnauthenticated) {
		writeError(w, http.StatusBadRequest, "no_session", "not signed in with an account")
		return
	}
	if err != nil {
		s.internal(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"secret": secret, "url": url})
}

func (s *Server) handleTOTPConfirm(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Code string `json:"code"`
	}
	if !decodeBody(w, r, &req) {
		return
	}
	err := s.ConfirmTOTP(r.Context(), principalFrom(r.Context()), req.Code, clientIP(r))
	switch {
	case errors.Is(err, ErrUnauthenticated):
		writeError(w, http.StatusBadRequest, "no_session", "not signed in with an account")
	case errors.Is(err, ErrLoginFailed):
		writeError(w, http.StatusUnprocessableEntity, "bad_code", "wrong code")
	case err != nil:
		s.internal(w, err)
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

func (s *Server) handleListUsers(w http.ResponseWriter, r *http.Request) {
	as, err := s.ListAccounts(r.Context())
	if err != nil {
		s.internal(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"users": as})
}

// createUserRequest is the body of POST /api/v1/users.
type createUserRequest struct {
	Login    string        `json:"login"`
	FullName string        `json:"full_name"`
	Grants   []store.Grant `json:"grants"`
}

func (s *Server) handleCreateUser(w http.ResponseWriter, r *http.Request) {
	var req createUserRequest
	if !decodeBody(w, r, &req) {
		return
	}
	pw, err := s.CreateAccount(r.Context(), principalFrom(r.Context()).Name, req.Login, req.FullName, req.Grants)
	if s.accountError(w, err) {
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"login": req.Login, "temporary_password": pw})
}

// accountError answers an account administration error; false if nil.
func (s *Server) accountError(w http.ResponseWriter, err error) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, ErrAccountExists), errors.Is(err, ErrAccountHasRecords):
		writeError(w, http.StatusConflict, "conflict", err.Error())
	case errors.Is(err, ErrNoAccount):
		writeError(w, http.StatusNotFound, "not_found", "no such account")
	case errors.Is(err, ErrInvalidAccount):
		writeError(w, http.StatusBadRequest, "bad_request", err.Error())
	default:
		s.internal(w, err)
	}
	return true
}

// handleUserAction runs one of disable, enable, unlock, reset-password.
func (s *Server) handleUserAction(w http.ResponseWriter, r *http.Request) {
	ctx, actor, login := r.Context(), principalFrom(r.Context()).Name, r.PathValue("name")
	var err error
	out := map[string]string{"login": login}
	switch r.PathValue("action") {
	case "disable":
		err = s.SetAccountEnabled(ctx, actor, login, false)
	case "enable":
		err = s.SetAccountEnabled(ctx, actor, login, true)
	case "unlock":
		err = s.UnlockAccount(ctx, actor, login)
	case "reset-password":
		out["temporary_password"], err = s.ResetPassword(ctx, actor, login)
	default:
		writeError(w, http.StatusNotFound, "not_found", "no such action")
		return
	}
	if s.accountError(w, err) {
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleGrant(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Project string `json:"project"`
		Role    string `json:"role"`
		Revoke  bool   `json:"revoke"`
	}
	if !decodeBody(w, r, &req) {
		return
	}
	g := store.Grant{Account: r.PathValue("name"), Project: req.Project, Role: req.Role}
	if s.accountError(w, s.GrantRole(r.Context(), principalFrom(r.Context()).Name, g, !req.Revoke)) {
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleDeleteUser(w http.ResponseWriter, r *http.Request) {
	s.accountError(w, s.DeleteAccount(r.Context(), principalFrom(r.Context()).Name, r.PathValue("name")))
}
