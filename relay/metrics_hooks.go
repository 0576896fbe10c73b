package relay

import (
	"context"
	"time"
)

// afterCommit is called once a file is newly committed: it counts it and
// has the study's FHIR ImagingStudy rewritten.
func (s *Server) afterCommit(ctx context.Context, c *checkedOffer, took time.Duration) {
	s.mon.committed.WithLabelValues(c.manifest.Project).Inc()
	s.mon.bytes.Add(float64(c.offer.Size))
	s.mon.commit.Observe(took.Seconds())
	s.mon.fhir.schedule(ctx, s, c.manifest.Project, c.manifest.StudyInstanceUID)
}
