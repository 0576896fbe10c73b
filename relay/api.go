package relay

import (
	"context"
	"crypto/ed25519"
	"dicomgate/audit"
	"encoding/json"
	"errors"
	"net/http"

	"dicomgate/store"
	"dicomgate/transport"
)

// principalKey is the request context key of the authenticated Principal.
type principalKey struct{}

// apiHandler returns the HTTPS API and web UI, every response with the
// security headers; the routes and their permissions are in
// session_routes.go.
func (s *Server) apiHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.handleHealth)
	s.registerRoutes(mux)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "no such endpoint")
	})
	return securityHeaders(mux)
}

func principalFrom(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
}

// project checks the {project} of a request: 404 when malformed or not
// served, 403 when the caller may not read it. It reports success.
func (s *Server) project(w http.ResponseWriter, r *http.Request) (string, bool) {
	id := r.PathValue("project")
	if !validProject(id) {
		writeError(w, http.StatusNotFound, "not_found", "no such project")
		return "", false
	}
	if !principalFrom(r.Context()).CanRead(id) {
		s.record(r.Context(), audit.Event{Actor: principalFrom(r.Context()).Name, Action: audit.ActionAccessDenied,
			Project: id, IP: r.RemoteAddr, Reason: "not allowed to read this project", Object: r.URL.Path})
		writeError(w, http.StatusForbidden, "forbidden", "not allowed to read this project")
		return "", false
	}
	if s.cfg.project(id) == nil {
		writeError(w, http.StatusNotFound, "not_found", "no such project")
		return "", false
	}
	return id, true
}

// file looks up the {file} of a request: 404 when unknown or in a project
// the caller may not read (existence is not revealed).
func (s *Server) file(w http.ResponseWriter, r *http.Request, res *resources) (*store.FileRecord, bool) {
	id := r.PathValue("file")
	if !validFileID(id) {
		writeError(w, http.StatusNotFound, "not_found", "no such file")
		return nil, false
	}
	rec, err := res.db.GetFile(r.Context(), id)
	if errors.Is(err, store.ErrNotExist) || (err == nil && !principalFrom(r.Context()).CanRead(rec.Project)) {
		writeError(w, http.StatusNotFound, "not_found", "no such file")
		return nil, false
	}
	if err != nil {
		s.internal(w, err)
		return nil, false
	}
	return rec, true
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	if _, err := s.resources(); err != nil {
		writeError(w, http.StatusServiceUnavailable, "unavailable", "relay not ready")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) handleStudies(w http.ResponseWriter, r *http.Request) {
	project, ok := s.project(w, r)
	if !ok {
		return
	}
	res, err := s.resources()
	if err != nil {
		s.internal(w, err)
		return
	}
	studies, err := res.db.ListStudies(r.Context(), project)
	if err != nil {
		s.internal(w, err)
		return
	}
	out := studiesResponse{Studies: make([]StudyInfo, 0, len(studies))}
	for _, st := range studies {
		out.Studies = append(out.Studies, StudyInfo{
			StudyUID: st.StudyUID, Modalities: st.Modalities, Series: st.Series,
			Files: st.Files, Bytes: st.Bytes, FirstAt: st.FirstAt, LastAt: st.LastAt,
		})
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleFiles(w http.ResponseWriter, r *http.Request) {
	project, ok := s.project(w, r)
	if !ok {
		return
	}
	study := r.PathValue("study")
	if !validUID(study) {
		writeError(w, http.StatusNotFound, "not_found", "no such study")
		return
	}
	res, err := s.resources()
	if err != nil {
		s.internal(w, err)
		return
	}
	files, err := res.db.ListFiles(r.Context(), project, study)
	if err != nil {
		s.internal(w, err)
		return
	}
	if len(files) == 0 {
		writeError(w, http.StatusNotFound, "not_found", "no such study")
		return
	}
	out := filesResponse{Files: make([]FileInfo, 0, len(files))}
	for _, f := range files {
		out.Files = append(out.Files, FileInfo{
			FileID: f.FileID, StudyUID: f.StudyUID, SeriesUID: f.SeriesUID, InstanceUID: f.InstanceUID,
			SOPClassUID: f.SOPClassUID, Modality: f.Modality, Site: f.Site, AgentID: f.AgentID,
			Size: f.Size, SHA256: f.SHA256, CommittedAt: f.CommittedAt,
		})
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleAgents(w http.ResponseWriter, r *http.Request) {
	project, ok := s.project(w, r)
	if !ok {
		return
	}
	res, err := s.resources()
	if err != nil {
		s.internal(w, err)
		return
	}
	agents, err := res.db.ListAgents(r.Context(), project)
	if err != nil {
		s.internal(w, err)
		return
	}
	out := agentsResponse{Agents: make([]AgentInfo, 0, len(agents))}
	for _, a := range agents {
		out.Agents = append(out.Agents, AgentInfo{
			ID: a.ID, Site: a.Site, PublicKey: a.PublicKey, KeyID: transport.KeyID(ed25519.PublicKey(a.PublicKey)),
			Revoked: a.Revoked, EnrolledAt: a.EnrolledAt,
		})
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleManifest(w http.ResponseWriter, r *http.Request) {
	res, err := s.resources()
	if err != nil {
		s.internal(w, err)
		return
	}
	rec, ok := s.file(w, r, res)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	w.Write(rec.Manifest)
}

// internal logs err (no PHI: store errors carry no identifiers beyond
// pseudonymous ones) and answers 500.
func (s *Server) internal(w http.ResponseWriter, err error) {
	s.log.Error().Err(err).Msg("api request failed")
	writeError(w, http.StatusInternalServerError, "internal", "internal error")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, apiError{Code: code, Error: msg})
}
