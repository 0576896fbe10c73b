package relay

import (
	"errors"
	"net/http"

	"dicomgate/audit"
	"dicomgate/store"
)

func (s *Server) handleCreateToken(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Site string `json:"site"`
	}
	if !decodeBody(w, r, &req) {
		return
	}
	p, project := principalFrom(r.Context()), r.PathValue("project")
	tok, err := s.createEnrolmentTokenBy(r, p.Name, project, req.Site)
	if errors.Is(err, ErrUnknownProject) {
		writeError(w, http.StatusNotFound, "not_found", "no such project")
		return
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", "site must be 1..64 characters of [A-Za-z0-9._-]")
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"token": tok})
}

// createEnrolmentTokenBy mints an enrolment token on behalf of an account
// and audits it (the token itself is never recorded).
func (s *Server) createEnrolmentTokenBy(r *http.Request, actor, project, site string) (string, error) {
	tok, err := s.CreateEnrolmentToken(r.Context(), project, site)
	if err != nil {
		return "", err
	}
	s.record(r.Context(), audit.Event{Actor: actor, Action: audit.ActionConfigChange, Project: project, Object: site,
		IP: clientIP(r), Reason: "enrolment token created"})
	return tok, nil
}

func (s *Server) handleRevokeAgent(w http.ResponseWriter, r *http.Request) {
	p := principalFrom(r.Context())
	if len(p.Grants) == 0 { // hidden by the guard: unknown or not the caller's
		writeError(w, http.StatusNotFound, "not_found", "no such agent")
		return
	}
	if err := s.revokeAgentBy(r, p.Name, r.PathValue("agent")); errors.Is(err, store.ErrNotExist) {
		writeError(w, http.StatusNotFound, "not_found", "no such agent")
		return
	} else if err != nil {
		s.internal(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// revokeAgentBy revokes an agent on behalf of an account (audited as
// agent.revoke with the account as actor).
func (s *Server) revokeAgentBy(r *http.Request, actor, agentID string) error {
	return s.RevokeAgentAs(r.Context(), actor, clientIP(r), agentID)
}
