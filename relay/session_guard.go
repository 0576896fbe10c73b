package relay

import (
	"context"
	"crypto/subtle"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"

	"dicomgate/audit"
	"dicomgate/store"
)

// sessionCookie is the browser session cookie: __Host- pins it to this
// origin, path / and Secure.
const sessionCookie = "__Host-dg_session"

// csrfHeader carries the CSRF token of cookie-authenticated API calls.
const csrfHeader = "X-CSRF-Token"

// scope says where a route's project comes from.
type scope int

const (
	scopeAny    scope = iota // the permission in some project (pages filter by project)
	scopeGlobal              // relay-wide: only a "*" grant
	scopePath                // the {project} path value
	scopeFile                // the project of the {file} path value
	scopeAgent               // the project of the {agent} path value
	scopeQuery               // the project query or form value; relay-wide when absent
)

// route is one authenticated endpoint: the permission it needs, where
// its project comes from, and whether a restricted session (temporary
// password, missing second factor) may use it.
type route struct {
	pattern      string
	perm         permission
	scope        scope
	restrictedOK bool
	html         bool
	h            http.HandlerFunc
}

// clientIP is the request's remote IP without the port.
func clientIP(r *http.Request) string {
	if h, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return h
	}
	return r.RemoteAddr
}

// authenticate finds the caller of r: a session token (bearer, or the
// session cookie) or a reader token. No credentials, or bad ones, is
// [ErrUnauthenticated].
func (s *Server) authenticate(r *http.Request) (*Principal, error) {
	ctx := r.Context()
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, token, _ := strings.Cut(h, " ")
		token = strings.TrimSpace(token)
		if strings.EqualFold(scheme, "Bearer") && strings.HasPrefix(token, SessionTokenPrefix) {
			return s.sessionPrincipal(ctx, token, clientIP(r), false)
		}
		p, err := s.auth.Authenticate(ctx, r)
		if err != nil {
			return nil, err
		}
		if p.Grants == nil {
			for _, proj := range p.Projects {
				p.Grants = append(p.Grants, store.Grant{Account: p.Name, Project: proj, Role: string(RoleCorelabReader)})
			}
		}
		return p, nil
	}
	if c, err := r.Cookie(sessionCookie); err == nil && strings.HasPrefix(c.Value, SessionTokenPrefix) {
		return s.sessionPrincipal(ctx, c.Value, clientIP(r), true)
	}
	return nil, ErrUnauthenticated
}

// routeProject resolves the project of a request for rt. found is false
// when the file or agent named does not exist (the handler answers 404).
func (s *Server) routeProject(r *http.Request, rt route) (project string, found bool, err error) {
	switch rt.scope {
	case scopeGlobal:
		return AllProjects, true, nil
	case scopePath:
		return r.PathValue("project"), true, nil
	case scopeQuery:
		p := r.URL.Query().Get("project")
		if p == "" && r.Method == http.MethodPost {
			p = r.PostFormValue("project")
		}
		if p == "" {
			return AllProjects, true, nil
		}
		return p, true, nil
	case scopeFile, scopeAgent:
		res, err := s.resources()
		if err != nil {
			return "", false, err
		}
		if rt.scope == scopeFile {
			rec, err := res.db.GetFile(r.Context(), r.PathValue("file"))
			if errors.Is(err, store.ErrNotExist) {
				return "", false, nil
			}
			if err != nil {
				return "", false, err
			}
			return rec.Project, true, nil
		}
		a, err := res.db.GetAgent(r.Context(), r.PathValue("agent"))
		if errors.Is(err, store.ErrNotExist) {
			return "", false, nil
		}
		if err != nil {
			return "", false, err
		}
		return a.Project, true, nil
	}
	return "", true, nil
}

// guard authenticates and authorises a request for rt: 401 without valid
// credentials, 403 (audited as access.denied) when the caller's roles
// lack the route's permission in its project, when a restricted session
// calls anything but the password change or TOTP enrolment, or when a
// cookie-authenticated state change lacks the CSRF token.
func (s *Server) guard(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		p, err := s.authenticate(r)
		if errors.Is(err, ErrUnauthenticated) {
			if rt.html {
				http.Redirect(w, r, "/ui/login?next="+url.QueryEscape(r.URL.Path), http.StatusSeeOther)
				return
			}
			s.record(ctx, audit.Event{Actor: "anonymous", Action: audit.ActionAccessDenied, IP: r.RemoteAddr,
				Reason: "missing or invalid credentials", Object: r.URL.Path})
			w.Header().Set("WWW-Authenticate", `Bearer realm="dicomgate"`)
			writeError(w, http.StatusUnauthorized, "unauthenticated", "missing or invalid bearer token")
			return
		}
		if err != nil {
			s.internal(w, err)
			return
		}
		deny := func(project, code, reason string) {
			s.record(ctx, audit.Event{Actor: p.Name, Action: audit.ActionAccessDenied, Project: projectField(project),
				IP: r.RemoteAddr, Reason: reason, Object: r.Method + " " + r.URL.Path})
			if rt.html {
				s.renderError(w, r, p, http.StatusForbidden, reason)
				return
			}
			writeError(w, http.StatusForbidden, code, reason)
		}
		if cs := p.session; cs != nil {
			if cs.restricted != "" && !rt.restrictedOK {
				if rt.html && r.Method == http.MethodGet {
					target := "/ui/password"
					if cs.restricted == restrictTOTPEnrol {
						target = "/ui/totp"
					}
					http.Redirect(w, r, target, http.StatusSeeOther)
					return
				}
				deny("", cs.restricted, "not allowed before "+strings.ReplaceAll(cs.restricted, "_", " "))
				return
			}
			if cs.viaCookie && r.Method != http.MethodGet && r.Method != http.MethodHead {
				tok := r.Header.Get(csrfHeader)
				if tok == "" {
					tok = r.PostFormValue("csrf")
				}
				if subtle.ConstantTimeCompare([]byte(tok), []byte(cs.sess.CSRF)) != 1 {
					deny("", "csrf", "missing or wrong csrf token")
					return
				}
			}
		}
		project, found, err := s.routeProject(r, rt)
		if err != nil {
			s.internal(w, err)
			return
		}
		// A file or agent that does not exist, or lies in a project the
		// caller has no role in, is answered 404 by the handler without
		// revealing which: it gets a principal without rights.
		hidden := (rt.scope == scopeFile || rt.scope == scopeAgent) && (!found || !anyRoleIn(p.Grants, project))
		if !hidden && !allowed(p.Grants, rt.perm, project) {
			deny(project, "forbidden", "your roles do not allow "+string(rt.perm)+" here")
			return
		}
		if hidden {
			p = &Principal{Name: p.Name, session: p.session}
		}
		rt.h(w, r.WithContext(context.WithValue(ctx, principalKey{}, p)))
	})
}

// anyRoleIn reports whether grants hold any role in project.
func anyRoleIn(grants []store.Grant, project string) bool {
	for _, g := range grants {
		if g.Project == AllProjects || g.Project == project {
			return true
		}
	}
	return false
}
