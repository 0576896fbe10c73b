package agent

import (
	"crypto/ed25519"
	"testing"

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
	old, err := LoadIdentity(s.cfg.IdentityDir)
	must(t, err)
	for _, it := range sealedWhileRelayAway(t, r, s) {
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
	for _, it := range runUntilCommitted(t, s) {
		if _, err := seal.OpenManifest(r.signedManifest(it.FileID), seal.TrustKeys(newPub)); err != nil {
			t.Errorf("item %d: the relay holds a manifest not signed by the new key: %v", it.ID, err)
		}
	}
	if c, _ := r.stats(); c != 20 {
		t.Errorf("relay committed %d, want 20", c)
	}
}
