package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"dicomgate/internal/dicomtest"
)

// TestTCPFallback: the relay serves no UDP at all (as behind a firewall
// that drops it); the agent, in its default auto mode, finds QUIC
// unreachable, falls back to TLS over TCP and delivers everything.
func TestTCPFallback(t *testing.T) {
	s := newSite(t, "disable_quic: true\n")
	s.startRelay()
	defer kill9(s.relay)
	s.enrol()
	key := s.generate(5, dicomtest.CorpusOptions{Patients: 2, Slices: 6, NoExtras: true})
	s.startAgent()
	defer kill9(s.agent)
	s.drop(key)
	c := s.client()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for {
		got, err := committedFiles(ctx, c)
		if err == nil && len(got) == len(s.expected) {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("%d of %d committed over the fallback (err %v)\n%s", len(got), len(s.expected), err, tail(s.agentLog.String(), 2000))
		}
		time.Sleep(200 * time.Millisecond)
	}
	stop(s.agent)
	if !strings.Contains(s.agentLog.String(), `"protocol":"tcp"`) {
		t.Errorf("agent log does not show the TCP fallback:\n%s", tail(s.agentLog.String(), 2000))
	}
}
