package audit

import (
	"crypto/ed25519"
	"errors"
	"math"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/mod/sumdb/note"
)

// TestConcurrentAppend runs two relays (two Logs, two database handles,
// two signing keys) appending to one SQLite file at once.
func TestConcurrentAppend(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shared.db")
	k1, k2 := testKey(t, "relay-a", 1), testKey(t, "relay-b", 2)
	l1 := openLog(t, path, k1, &Options{CheckpointEvery: 25})
	l2 := openLog(t, path, k2, &Options{CheckpointEvery: 25})
	const per = 150
	var wg sync.WaitGroup
	for w, l := range []*Log{l1, l2, l1, l2} {
		wg.Go(func() {
			for i := range per {
				if _, err := l.Append(t.Context(), sampleEvent(w*per+i)); err != nil {
					t.Errorf("Append: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	if _, err := l2.Checkpoint(t.Context()); err != nil {
		t.Fatal(err)
	}
	seen := make(map[int64]bool)
	for e, err := range l1.Query(t.Context(), Filter{}) {
		if err != nil {
			t.Fatal(err)
		}
		if seen[e.Index] || e.Index != int64(len(seen)) {
			t.Fatalf("index %d out of sequence after %d entries", e.Index, len(seen))
		}
		seen[e.Index] = true
	}
	if len(seen) != 4*per {
		t.Fatalf("%d entries; want %d", len(seen), 4*per)
	}
	both, err := NewVerifiers(k1.VerifierKey(), k2.VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	r, err := l1.Verify(t.Context(), both)
	if err != nil || !r.OK || r.Unsealed != 0 || r.Checkpoints < 2 {
		t.Fatalf("Verify with both keys = %+v, %v", r, err)
	}
	// A verifier that knows only relay A's key rejects relay B's checkpoints:
	// rotation and multi-relay setups must list every key.
	onlyA, _ := NewVerifiers(k1.VerifierKey())
	r, err = l1.Verify(t.Context(), onlyA)
	if err != nil || r.OK || r.First.Reason != ReasonSignature {
		t.Fatalf("Verify with one key = %+v, %v; want a signature problem", r, err)
	}
}

func TestAppendInvalid(t *testing.T) {
	l := openLog(t, filepath.Join(t.TempDir(), "a.db"), testKey(t, "r", 1), nil)
	tests := []struct {
		name string
		ev   Event
	}{
		{"no actor", Event{Action: ActionLogout}},
		{"unknown action", Event{Actor: "alice", Action: "login.sucess"}},
		{"control character", Event{Actor: "alice\nforged line", Action: ActionLogout}},
		{"invalid UTF-8", Event{Actor: "alice\xff", Action: ActionLogout}},
		{"unencodable details", Event{Actor: "alice", Action: ActionLogout, Details: map[string]any{"x": math.NaN()}}},
	}
	for _, tt := range tests {
		if _, err := l.Append(t.Context(), tt.ev); !errors.Is(err, ErrInvalidEvent) {
			t.Errorf("%s: Append = %v; want ErrInvalidEvent", tt.name, err)
		}
	}
}

// TestDetailsNotScreened documents that the package does not (and cannot)
// tell PHI from other text: keeping PHI out is the caller's duty.
func TestDetailsNotScreened(t *testing.T) {
	l := openLog(t, filepath.Join(t.TempDir(), "a.db"), testKey(t, "r", 1), nil)
	ev := Event{Actor: "John Smith", Action: ActionLoginFailure, Details: map[string]any{"looks_like_a_name": "Jane Doe"}}
	idx, err := l.Append(t.Context(), ev)
	if err != nil {
		t.Fatalf("Append = %v; the caller, not this package, screens for PHI", err)
	}
	for e, err := range l.Query(t.Context(), Filter{Actor: "John Smith"}) {
		if err != nil || e.Index != idx || e.Details["looks_like_a_name"] != "Jane Doe" {
			t.Fatalf("Query = %+v, %v", e, err)
		}
	}
}

// TestCanonical checks that the leaf encoding round trips byte for byte and
// that any other spelling of the same entry is refused.
func TestCanonical(t *testing.T) {
	type counts struct {
		Removed  int `json:"removed"`
		Replaced int `json:"replaced"`
	}
	e := Entry{Index: 7, Event: Event{Time: testEpoch.Add(1234567), Actor: "agent-1", Action: ActionFileCommitted,
		Details: map[string]any{"z": 1, "a": counts{3, 4}, "big": uint64(1<<63 + 1), "f": 0.1, "html": "<&>"}}}
	data, err := encodeEntry(e)
	if err != nil {
		t.Fatal(err)
	}
	back, err := decodeEntry(data)
	if err != nil {
		t.Fatalf("decodeEntry(%s): %v", data, err)
	}
	again, err := encodeEntry(back)
	if err != nil || string(again) != string(data) {
		t.Fatalf("re-encoding differs:\n%s\n%s", data, again)
	}
	if !strings.Contains(string(data), `"big":9223372036854775809`) {
		t.Errorf("large integer not kept exactly: %s", data)
	}
	for _, bad := range []string{
		strings.Replace(string(data), `"index":7`, `"index": 7`, 1),
		strings.Replace(string(data), `"index":7`, `"index":7,"extra":1`, 1),
		string(data) + " ",
	} {
		if _, err := decodeEntry([]byte(bad)); err == nil {
			t.Errorf("decodeEntry accepted a non-canonical spelling: %s", bad)
		}
	}
}

func TestKeys(t *testing.T) {
	s := testKey(t, "dicomgate-relay", 9)
	if !strings.HasPrefix(s.VerifierKey(), "dicomgate-relay+") || s.Name() != "dicomgate-relay" {
		t.Fatalf("VerifierKey = %q", s.VerifierKey())
	}
	msg, err := note.Sign(&note.Note{Text: "hello\n"}, s)
	if err != nil {
		t.Fatal(err)
	}
	vs, err := NewVerifiers(s.VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	if n, err := note.Open(msg, vs); err != nil || n.Text != "hello\n" {
		t.Fatalf("Open = %v, %v", n, err)
	}
	if _, err := NewSigner("bad name", nil); err == nil {
		t.Error("NewSigner accepted a nil key")
	}
	if _, err := VerifierKey("bad name", s.priv.Public().(ed25519.PublicKey)); err == nil {
		t.Error("VerifierKey accepted a name with a space")
	}
	if _, err := NewVerifiers(); !errors.Is(err, ErrNoVerifier) {
		t.Errorf("NewVerifiers() = %v; want ErrNoVerifier", err)
	}
}

// TestCheckpointRefusesRewrite checks that no checkpoint is signed over a
// history that does not extend the last one.
func TestCheckpointRefusesRewrite(t *testing.T) {
	signer := testKey(t, "r", 1)
	path := buildLog(t, t.TempDir(), 40, 10, signer)
	db := rawDB(t, path)
	editActor(t, db, 20)
	rehash(t, db)
	l := openLog(t, path, signer, nil)
	if _, err := l.Checkpoint(t.Context()); !errors.Is(err, ErrTampered) {
		t.Fatalf("Checkpoint over a rewritten history = %v; want ErrTampered", err)
	}
}
