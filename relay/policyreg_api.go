package relay

import (
	"errors"
	"net/http"
	"strconv"

	"dicomgate/policy"
	"dicomgate/store"
)

// PolicyProblem is one validation problem of a policy text.
type PolicyProblem struct {
	Line    int    `json:"line"`
	Column  int    `json:"column"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

// policyProblems turns a policy validation error into problems; nil when
// err is not one.
func policyProblems(err error) []PolicyProblem {
	var ve *policy.ValidationError
	if !errors.As(err, &ve) {
		return nil
	}
	out := make([]PolicyProblem, 0, len(ve.Problems))
	for _, p := range ve.Problems {
		out = append(out, PolicyProblem{Line: p.Line, Column: p.Column, Field: p.Field, Message: p.Message})
	}
	return out
}

func (s *Server) handleListPolicies(w http.ResponseWriter, r *http.Request) {
	st, err := s.accountStore()
	if err != nil {
		s.internal(w, err)
		return
	}
	ps, err := st.ListPolicies(r.Context(), r.URL.Query().Get("policy_id"))
	if err != nil {
		s.internal(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"policies": ps})
}

func (s *Server) handleGetPolicy(w http.ResponseWriter, r *http.Request) {
	rev, ok := s.revision(w, r)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, rev)
}

// revision loads the {rev} of a request; false when answered.
func (s *Server) revision(w http.ResponseWriter, r *http.Request) (*store.PolicyRevision, bool) {
	id, err := strconv.ParseInt(r.PathValue("rev"), 10, 64)
	if err != nil {
		writeError(w, http.StatusNotFound, "not_found", "no such policy revision")
		return nil, false
	}
	st, err := s.accountStore()
	if err != nil {
		s.internal(w, err)
		return nil, false
	}
	rev, err := st.GetPolicy(r.Context(), id)
	if errors.Is(err, store.ErrNotExist) {
		writeError(w, http.StatusNotFound, "not_found", "no such policy revision")
		return nil, false
	}
	if err != nil {
		s.internal(w, err)
		return nil, false
	}
	return rev, true
}

func (s *Server) handleSavePolicy(w http.ResponseWriter, r *http.Request) {
	var req struct {
		YAML string `json:"yaml"`
	}
	if !decodeBody(w, r, &req) {
		return
	}
	rev, err := s.SavePolicy(r.Context(), principalFrom(r.Context()).Name, req.YAML, clientIP(r))
	if probs := policyProblems(err); probs != nil {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"code": "invalid_policy",
			"error": "the policy has problems", "problems": probs})
		return
	}
	if errors.Is(err, ErrPolicyVersionApproved) {
		writeError(w, http.StatusConflict, "conflict", err.Error())
		return
	}
	if err != nil {
		s.internal(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, rev)
}

func (s *Server) handleListApprovals(w http.ResponseWriter, r *http.Request) {
	st, err := s.accountStore()
	if err != nil {
		s.internal(w, err)
		return
	}
	as, err := st.ListApprovals(r.Context(), r.PathValue("project"))
	if err != nil {
		s.internal(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"approvals": as})
}

// signError answers a signature error; false if nil.
func (s *Server) signError(w http.ResponseWriter, err error) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, ErrSignatureAuth):
		writeError(w, http.StatusUnauthorized, "signature_failed", "signature refused: wrong password or code")
	case errors.Is(err, ErrSignatureMeaning):
		writeError(w, http.StatusBadRequest, "bad_meaning", err.Error())
	case errors.Is(err, ErrUnknownProject), errors.Is(err, store.ErrNotExist):
		writeError(w, http.StatusNotFound, "not_found", "no such project, study or revision")
	case errors.Is(err, store.ErrConflict):
		writeError(w, http.StatusConflict, "conflict", "already signed")
	default:
		s.internal(w, err)
	}
	return true
}

func (s *Server) handleApprovePolicy(w http.ResponseWriter, r *http.Request) {
	var req SignRequest
	if !decodeBody(w, r, &req) {
		return
	}
	id, err := strconv.ParseInt(r.PathValue("rev"), 10, 64)
	if err != nil {
		writeError(w, http.StatusNotFound, "not_found", "no such policy revision")
		return
	}
	sig, err := s.ApprovePolicy(r.Context(), principalFrom(r.Context()), r.PathValue("project"), id, req, clientIP(r))
	if s.signError(w, err) {
		return
	}
	writeJSON(w, http.StatusOK, sig)
}
