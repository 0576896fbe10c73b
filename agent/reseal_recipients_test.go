package agent

import (
	"bytes"
	"io"
	"os"
	"slices"
	"testing"

	"dicomgate/seal"
)

// Files sealed while the relay was away, then the agent restarted with the
// core lab's key replaced: they are sealed again to the new key before
// they are offered, so nothing goes out readable by the removed key, and
// the new key reads everything.
func TestRecipientChangeSealsAgain(t *testing.T) {
	r := newTestRelay(t)
	r.start()
	s := enrolledSite(t, r)
	oldFP := s.lab.Recipient().Fingerprint()
	sealed := sealedWhileRelayAway(t, r, s)
	for _, it := range sealed {
		if fps := spoolRecipients(t, it); !slices.Equal(fps, []string{oldFP}) {
			t.Fatalf("item %d sealed to %v, want the first lab key", it.ID, fps)
		}
	}

	lab, err := seal.GenerateIdentity()
	must(t, err)
	s.cfg.Recipients = []string{lab.Recipient().String()}
	r.start()
	for _, it := range runUntilCommitted(t, s) {
		obj := r.object(it.FileID)
		fps, err := seal.SealedRecipients(bytes.NewReader(obj))
		if err != nil || !slices.Equal(fps, []string{lab.Recipient().Fingerprint()}) {
			t.Fatalf("item %d went out sealed to %v (%v), want the new lab key only", it.ID, fps, err)
		}
		rd, err := seal.NewReader(bytes.NewReader(obj), lab)
		if err != nil {
			t.Fatalf("item %d: the new lab key cannot open it: %v", it.ID, err)
		}
		if _, err := io.Copy(io.Discard, rd); err != nil {
			t.Fatalf("item %d: %v", it.ID, err)
		}
	}
}

// spoolRecipients returns the recipients of the sealed spool file of it.
func spoolRecipients(t *testing.T, it *Item) []string {
	t.Helper()
	f, err := os.Open(it.SpoolPath)
	must(t, err)
	defer f.Close()
	fps, err := seal.SealedRecipients(f)
	must(t, err)
	return fps
}
