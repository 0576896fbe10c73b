package agent

import (
	"context"
	"crypto/ed25519"
	"path/filepath"
	"testing"
	"time"

	"dicomgate/seal"
)

// Files sealed while the relay was away, then the agent enrolled again
// with --force (a new key): they are anonymised and sealed again under the
// new key and committed, not offered with the old signature and
// quarantined when the relay refuses it.
func TestReenrolledAgentSealsAgain(t *testing.T) {
	r := newTestRelay(t)
	r.start()
	s := enrolledSite(t, r)
	r.stop()
	dir, _ := twentyFiles(t, s)
	old, err := LoadIdentity(s.cfg.IdentityDir)
	must(t, err)
	a := newTestAgent(t, s)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	res, err := a.Send(ctx, []string{dir}, nil)
	cancel()
	if res.Committed != 0 {
		t.Fatalf("Send with the relay down = %+v, %v", res, err)
	}
	q := openTestQueue(t, s.cfg.QueueDB)
	sealed, err := q.List(t.Context(), StateSealed, 100)
	must(t, err)
	q.Close()
	if len(sealed) != 20 {
		t.Fatalf("%d items sealed with the relay down, want 20", len(sealed))
	}
	for _, it := range sealed {
		if pub, err := seal.ManifestSigner(it.Manifest); err != nil || !pub.Equal(old.Key.Public()) {
			t.Fatalf("item %d not sealed under the first key (%v)", it.ID, err)
		}
	}

	r.start()
	_, err = Enroll(t.Context(), s.cfg.IdentityDir, r.addr, r.token(), "site-1", true)
	must(t, err)
	id, err := LoadIdentity(s.cfg.IdentityDir)
	must(t, err)
	newPub := id.Key.Public().(ed25519.PublicKey)
	if newPub.Equal(old.Key.Public()) {
		t.Fatal("forced enrolment kept the key")
	}
	a = newTestAgent(t, s)
	rctx, stop := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- a.Run(rctx) }()
	eventually(t, "20 committed by the agent", func() bool { return committedNow(t, s.cfg.QueueDB) == 20 })
	stop()
	must(t, <-done)

	q = openTestQueue(t, s.cfg.QueueDB)
	defer q.Close()
	if c := counts(t, q); c[StateCommitted] != 20 || c[StateQuarantined] != 0 {
		t.Fatalf("queue %v; want 20 committed, none quarantined", c)
	}
	items, err := q.List(t.Context(), StateCommitted, 100)
	must(t, err)
	for _, it := range items {
		if _, err := seal.OpenManifest(r.signedManifest(it.FileID), seal.TrustKeys(newPub)); err != nil {
			t.Errorf("item %d: the relay holds a manifest not signed by the new key: %v", it.ID, err)
		}
		if it.SpoolPath != "" {
			t.Errorf("item %d keeps spool path", it.ID)
		}
	}
	if c, _ := r.stats(); c != 20 {
		t.Errorf("relay committed %d, want 20", c)
	}
	// The first sealings were removed from the spool, not left behind.
	if left, _ := filepath.Glob(filepath.Join(s.cfg.SpoolDir, "*.sealed")); len(left) != 0 {
		t.Errorf("spool keeps %d sealed files: %v", len(left), left)
	}
}
