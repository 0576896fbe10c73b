package agent

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

// sealedWhileRelayAway sends twenty files of s with the relay r stopped
// and returns the items they left sealed in the spool.
func sealedWhileRelayAway(t *testing.T, r *testRelay, s *testSite) []*Item {
	t.Helper()
	r.stop()
	dir, _ := twentyFiles(t, s)
	a := newTestAgent(t, s)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	res, err := a.Send(ctx, []string{dir}, nil)
	cancel()
	if res.Committed != 0 {
		t.Fatalf("Send with the relay down = %+v, %v", res, err)
	}
	q := openTestQueue(t, s.cfg.QueueDB)
	defer q.Close()
	sealed, err := q.List(t.Context(), StateSealed, 100)
	must(t, err)
	if len(sealed) != 20 {
		t.Fatalf("%d items sealed with the relay down, want 20", len(sealed))
	}
	return sealed
}

// runUntilCommitted runs an agent of s (the relay r started) until the
// twenty items are committed, checks that none was quarantined and that
// the spool holds nothing, and returns the committed items.
func runUntilCommitted(t *testing.T, s *testSite) []*Item {
	t.Helper()
	a := newTestAgent(t, s)
	ctx, stop := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	eventually(t, "20 committed by the agent", func() bool { return committedNow(t, s.cfg.QueueDB) == 20 })
	stop()
	must(t, <-done)
	q := openTestQueue(t, s.cfg.QueueDB)
	defer q.Close()
	if c := counts(t, q); c[StateCommitted] != 20 || c[StateQuarantined] != 0 {
		t.Fatalf("queue %v; want 20 committed, none quarantined", c)
	}
	items, err := q.List(t.Context(), StateCommitted, 100)
	must(t, err)
	for _, it := range items {
		if it.SpoolPath != "" {
			t.Errorf("item %d keeps spool path", it.ID)
		}
	}
	// The first sealings were removed from the spool, not left behind.
	if left, _ := filepath.Glob(filepath.Join(s.cfg.SpoolDir, "*.sealed")); len(left) != 0 {
		t.Errorf("spool keeps %d sealed files: %v", len(left), left)
	}
	return items
}
