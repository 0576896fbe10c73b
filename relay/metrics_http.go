package relay

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"dicomgate/store"
)

// readyTimeout bounds the database and object-store probes of /readyz.
const readyTimeout = 5 * time.Second

// readyProbeKey is an object key /readyz stats; it need not exist.
const readyProbeKey = "readyz-probe"

// monitored adds to the API handler api:
//
//	GET /metrics   Prometheus text format; no authentication
//	GET /readyz    200 when the metadata database and the object store
//	               answer, 503 otherwise; no authentication
//	GET /api/v1/projects/{project}/studies/{study}/imagingstudy
//	               the study's FHIR R4 ImagingStudy; authenticated as the
//	               other API routes
//
// /metrics needs no credentials so that a scraper holds none, and exposes
// no PHI: its labels are project IDs (from the configuration) and refusal
// codes, never a UID, file ID, agent ID or path. Operators who prefer not
// to publish project IDs block /metrics at the network edge. /healthz
// (process up, store opened) stays in the API itself.
func (s *Server) monitored(api http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.mon.reg, promhttp.HandlerOpts{
		ErrorHandling: promhttp.ContinueOnError,
	}))
	mux.HandleFunc("GET /readyz", s.handleReady)
	mux.Handle("GET /api/v1/projects/{project}/studies/{study}/imagingstudy", s.guard(route{
		pattern: "GET /api/v1/projects/{project}/studies/{study}/imagingstudy",
		perm:    permStudyRead, scope: scopePath, h: s.handleImagingStudy,
	}))
	mux.Handle("/", api)
	return securityHeaders(mux)
}

func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()
	if err := s.probeReady(ctx); err != nil {
		s.log.Warn().Err(err).Msg("not ready")
		writeError(w, http.StatusServiceUnavailable, "unavailable", "relay not ready")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// probeReady probes the metadata database and the object store.
func (s *Server) probeReady(ctx context.Context) error {
	res, err := s.resources()
	if err != nil {
		return err
	}
	if _, err := res.db.GetAgent(ctx, readyProbeKey); err != nil && !errors.Is(err, store.ErrNotExist) {
		return fmt.Errorf("relay: ready: database: %w", err)
	}
	if _, err := res.objects.Stat(ctx, readyProbeKey); err != nil && !errors.Is(err, store.ErrNotExist) {
		return fmt.Errorf("relay: ready: object store: %w", err)
	}
	return nil
}

func (s *Server) handleImagingStudy(w http.ResponseWriter, r *http.Request) {
	project, ok := s.project(w, r)
	if !ok {
		return
	}
	study := r.PathValue("study")
	if !validUID(study) {
		writeError(w, http.StatusNotFound, "not_found", "no such study")
		return
	}
	b, err := s.imagingStudyJSON(r.Context(), project, study)
	if errors.Is(err, errEmptyStudy) {
		writeError(w, http.StatusNotFound, "not_found", "no such study")
		return
	}
	if err != nil {
		s.internal(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/fhir+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	w.Write(b)
}
