package agent

import (
	"crypto/ed25519"
	"os"
	"path/filepath"
	"testing"

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
	first, err := loadPolicy("")
	must(t, err)
	for _, it := range sealedWhileRelayAway(t, r, s) {
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
	for _, it := range runUntilCommitted(t, s) {
		m, err := seal.OpenManifest(r.signedManifest(it.FileID), anyKey)
		if err != nil {
			t.Fatalf("item %d: relay manifest: %v", it.ID, err)
		}
		if m.PolicyHash != stricter.Hash() || m.PolicyID != "basic-stricter" {
			t.Errorf("item %d went out under policy %s %s, want the stricter one", it.ID, m.PolicyID, m.PolicyHash)
		}
	}
}

// anyKey trusts every signer: the test reads manifests it made itself.
func anyKey(ed25519.PublicKey) error { return nil }
