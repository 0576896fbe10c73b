package agent

import (
	"context"
	"crypto/ed25519"
	"os"
	"path/filepath"
	"testing"
	"time"

	"dicomgate/seal"
)

// Files sealed while the relay was away, then the agent restarted with a
// changed anonymisation policy: they are anonymised and sealed again under
// the policy it now applies before they are offered, so nothing goes out
// under the policy the admins replaced.
func TestPolicyChangeSealsAgain(t *testing.T) {
	r := newTestRelay(t)
	r.start()
	s := enrolledSite(t, r)
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
	sealed, err := q.List(t.Context(), StateSealed, 100)
	must(t, err)
	q.Close()
	if len(sealed) != 20 {
		t.Fatalf("%d items sealed with the relay down, want 20", len(sealed))
	}
	first, err := loadPolicy("")
	must(t, err)
	for _, it := range sealed {
		if m, err := seal.OpenManifest(it.Manifest, anyKey); err != nil || m.PolicyHash != first.Hash() {
			t.Fatalf("item %d not sealed under the built-in policy (%v)", it.ID, err)
		}
	}

	s.cfg.Policy = filepath.Join(s.dir, "stricter.yaml")
	must(t, os.WriteFile(s.cfg.Policy, []byte(`id: basic-stricter
version: 2
description: Basic Profile, descriptors cleaned too.
profile: basic
options: [clean-descriptors]
burned_in_annotation: quarantine
unknown_public: remove
`), 0o644))
	stricter, err := loadPolicy(s.cfg.Policy)
	must(t, err)
	if stricter.Hash() == first.Hash() {
		t.Fatal("the two policies hash alike")
	}
	r.start()
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
		m, err := seal.OpenManifest(r.signedManifest(it.FileID), anyKey)
		if err != nil {
			t.Fatalf("item %d: relay manifest: %v", it.ID, err)
		}
		if m.PolicyHash != stricter.Hash() || m.PolicyID != "basic-stricter" {
			t.Errorf("item %d went out under policy %s %s, want the stricter one", it.ID, m.PolicyID, m.PolicyHash)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(s.cfg.SpoolDir, "*.sealed")); len(left) != 0 {
		t.Errorf("spool keeps %d sealed files: %v", len(left), left)
	}
}

// anyKey trusts every signer: the test reads manifests it made itself.
func anyKey(ed25519.PublicKey) error { return nil }
