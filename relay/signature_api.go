package relay

import (
	"bytes"
	"net/http"
	"strconv"
	"time"

	"dicomgate/audit"
)

func (s *Server) handleRelease(w http.ResponseWriter, r *http.Request) {
	var req SignRequest
	if !decodeBody(w, r, &req) {
		return
	}
	study := r.PathValue("study")
	if !validUID(study) || s.cfg.project(r.PathValue("project")) == nil {
		writeError(w, http.StatusNotFound, "not_found", "no such study")
		return
	}
	sig, err := s.ReleaseStudy(r.Context(), principalFrom(r.Context()), r.PathValue("project"), study, req, clientIP(r))
	if s.signError(w, err) {
		return
	}
	writeJSON(w, http.StatusOK, sig)
}

// exportRequest is the body of POST /api/v1/audit/export.
type exportRequest struct {
	SignRequest
	Format  string    `json:"format"`
	Project string    `json:"project"`
	Actor   string    `json:"actor"`
	Action  string    `json:"action"`
	Since   time.Time `json:"since,omitzero"`
	Until   time.Time `json:"until,omitzero"`
}

// filter returns the audit filter of the request.
func (e exportRequest) filter() audit.Filter {
	return audit.Filter{Project: e.Project, Actor: e.Actor, Action: audit.Action(e.Action), Since: e.Since, Until: e.Until}
}

// exportContentType is the content type of each export format.
func exportContentType(f audit.Format) string {
	switch f {
	case audit.FormatCSV:
		return "text/csv; charset=utf-8"
	case audit.FormatPDF:
		return "application/pdf"
	}
	return "application/json"
}

func (s *Server) handleExport(w http.ResponseWriter, r *http.Request) {
	var req exportRequest
	if !decodeBody(w, r, &req) {
		return
	}
	// The guard authorised the query's project (relay-wide without one):
	// the export is limited to it.
	if q := r.URL.Query().Get("project"); q != "" {
		req.Project = q
	}
	s.writeExport(w, r, req)
}

// writeExport signs and writes an export as a download.
func (s *Server) writeExport(w http.ResponseWriter, r *http.Request, req exportRequest) {
	format, err := audit.ParseFormat(req.Format)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_format", "format must be csv, json or pdf")
		return
	}
	var buf bytes.Buffer
	sig, err := s.ExportAudit(r.Context(), &buf, principalFrom(r.Context()), format, req.filter(), req.SignRequest, clientIP(r))
	if s.signError(w, err) {
		return
	}
	h := w.Header()
	h.Set("Content-Type", exportContentType(format))
	h.Set("Content-Disposition", `attachment; filename="audit-`+sig.SignedAt.Format("20060102T150405Z")+"."+string(format)+`"`)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Signature-Id", strconv.FormatInt(sig.ID, 10))
	w.WriteHeader(http.StatusOK)
	w.Write(buf.Bytes())
}

// handleAuditQuery returns audit entries matching the query's filter
// (project, actor, action, since, until as RFC 3339), newest last, at most
// limit (default 500).
func (s *Server) handleAuditQuery(w http.ResponseWriter, r *http.Request) {
	f, err := auditFilterFromQuery(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	entries, err := s.queryAudit(r, f, 500)
	if err != nil {
		s.internal(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"entries": entries})
}
