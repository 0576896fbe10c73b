package agent

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"dicomgate/internal/dicomtest"
	"dicomgate/seal"
)

// enrolledSite returns a site enrolled with r (which must be running) that
// verifies r's receipts.
func enrolledSite(t *testing.T, r *testRelay) *testSite {
	t.Helper()
	s := newTestSite(t, r.addr)
	if _, err := Enroll(t.Context(), s.cfg.IdentityDir, r.addr, r.token(), "site-1", false); err != nil {
		t.Fatalf("Enroll: %v", err)
	}
	pemKey, err := seal.MarshalVerifyingKey(r.receiptKey())
	must(t, err)
	s.cfg.Relay.ReceiptKey = filepath.Join(s.dir, "relay-receipt.pub")
	must(t, os.WriteFile(s.cfg.Relay.ReceiptKey, pemKey, 0o644))
	return s
}

func newTestAgent(t *testing.T, s *testSite) *Agent {
	t.Helper()
	a, err := New(s.cfg, zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return a
}

func TestEnroll(t *testing.T) {
	r := newTestRelay(t)
	r.start()
	dir := filepath.Join(t.TempDir(), "identity")
	id, err := Enroll(t.Context(), dir, r.addr, r.token(), "site-1", false)
	must(t, err)
	if id.AgentID != "agent-site-1" || id.CAFingerprint != r.ca.Fingerprint() {
		t.Errorf("identity %q, CA %q", id.AgentID, id.CAFingerprint)
	}
	for name, mode := range map[string]os.FileMode{IdentityKeyFile: 0o600, IdentityCertFile: 0o644,
		IdentityCAFile: 0o644, IdentityInfoFile: 0o644} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.Mode().Perm() != mode {
			t.Errorf("%s: %v, mode %v; want %v", name, err, fi.Mode().Perm(), mode)
		}
	}
	loaded, err := LoadIdentity(dir)
	must(t, err)
	if !loaded.Key.Equal(id.Key) || loaded.AgentID != id.AgentID || loaded.RelayAddress != r.addr {
		t.Errorf("LoadIdentity differs from Enroll's identity")
	}
	// The certificate's key is the manifest signing key.
	cert := loaded.TLSCertificate()
	if !cert.PrivateKey.(ed25519.PrivateKey).Equal(loaded.Key) {
		t.Errorf("TLS key is not the signing key")
	}

	// No overwrite without force; the token is not spent.
	tok := r.token()
	_, enrolsBefore := r.enrolCount()
	if _, err := Enroll(t.Context(), dir, r.addr, tok, "site-1", false); !errors.Is(err, ErrIdentityExists) {
		t.Fatalf("second Enroll = %v; want ErrIdentityExists", err)
	}
	if _, n := r.enrolCount(); n != enrolsBefore {
		t.Errorf("the refused enrolment reached the relay")
	}
	again, err := Enroll(t.Context(), dir, r.addr, tok, "site-1", true)
	must(t, err)
	if again.Key.Equal(id.Key) {
		t.Errorf("forced enrolment kept the old key")
	}
	if _, err := Enroll(t.Context(), t.TempDir(), r.addr, tok, "site-2", false); err == nil {
		t.Errorf("a used token enrolled again")
	}
	if _, err := LoadIdentity(t.TempDir()); !errors.Is(err, ErrNotEnrolled) {
		t.Errorf("LoadIdentity(empty) = %v; want ErrNotEnrolled", err)
	}
}

func (r *testRelay) enrolCount() (tokens, enrols int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.tokens), r.enrols
}

// twentyFiles writes a corpus of 20 files the Basic Profile accepts.
func twentyFiles(t *testing.T, s *testSite) (string, *dicomtest.Key) {
	t.Helper()
	dir, key := corpus(t, 11, dicomtest.CorpusOptions{Patients: 4, Slices: 3, NoExtras: true})
	if len(key.Files) != 20 {
		t.Fatalf("corpus has %d files, want 20", len(key.Files))
	}
	return dir, key
}

func TestSendThroughRelayIdempotent(t *testing.T) {
	r := newTestRelay(t)
	r.start()
	s := enrolledSite(t, r)
	dir, key := twentyFiles(t, s)
	a := newTestAgent(t, s)

	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	var last SendProgress
	res, err := a.Send(ctx, []string{dir}, func(p SendProgress) { last = p })
	must(t, err)
	if res.Queued != 20 || res.Committed != 20 || res.Quarantined != 0 || res.Pending != 0 || last != res {
		t.Fatalf("Send = %+v (last progress %+v); want 20 committed", res, last)
	}
	committed, writes := r.stats()
	if committed != 20 {
		t.Fatalf("relay committed %d files, want 20", committed)
	}
	// Every object decrypts to what `dicomgate anonymize` makes, and the
	// queue holds the relay's signed receipts.
	q := openTestQueue(t, s.cfg.QueueDB)
	items, err := q.List(t.Context(), StateCommitted, 100)
	must(t, err)
	q.Close()
	for _, it := range items {
		src, err := os.ReadFile(it.SourcePath)
		must(t, err)
		want, _, err := s.reference(t, src)
		must(t, err)
		if got := s.open(t, r.object(it.FileID)); string(got) != string(want) {
			t.Errorf("item %d: relay object does not decrypt to the anonymised file", it.ID)
		}
		var rec Receipt
		if err := json.Unmarshal(it.Receipt, &rec); err != nil || rec.ID != it.FileID || rec.Signature == nil {
			t.Errorf("item %d: receipt %s: %v", it.ID, it.Receipt, err)
		}
		if leaks := key.Search(r.object(it.FileID), searchable); len(leaks) > 0 {
			t.Errorf("relay object carries planted values")
		}
	}

	// Same paths again: already queued, nothing to do.
	res, err = a.Send(ctx, []string{dir}, nil)
	must(t, err)
	if res.Queued != 0 || res.Committed != 0 {
		t.Errorf("re-send = %+v; want nothing queued", res)
	}
	// The same sealed file uploaded again (a crash before the receipt was
	// recorded): the relay answers with its receipt, no data is sent.
	up := NewRelayUploader(zerolog.Nop(), a.up.cfg)
	defer up.Close()
	for _, it := range items[:3] {
		sealed := r.object(it.FileID)
		// Committed items keep no manifest: take the one it was sent with.
		it.Manifest = r.signedManifest(it.FileID)
		rec, err := up.Upload(ctx, it, bytesReaderAt(sealed))
		if err != nil || !strings.Contains(string(rec), it.FileID) {
			t.Errorf("re-upload of item %d = %s, %v", it.ID, rec, err)
		}
	}
	if c, w := r.stats(); c != 20 || w != writes {
		t.Errorf("relay: %d committed, %d writes (was %d); want 20 and no new write", c, w, writes)
	}

	// A lost queue: every file is anonymised and sealed again. Same
	// content, same file ids; the relay holds them under the first
	// sealing, so the new sealings are quarantined as duplicates, never
	// retried forever, and nothing is stored twice.
	for _, f := range []string{s.cfg.QueueDB, s.cfg.QueueDB + "-wal", s.cfg.QueueDB + "-shm"} {
		os.Remove(f)
	}
	res, err = a.Send(ctx, []string{dir}, nil)
	must(t, err)
	if res.Queued != 20 || res.Committed+res.Quarantined != 20 {
		t.Errorf("send after queue loss = %+v; want all 20 finished", res)
	}
	if c, w := r.stats(); c != 20 || w != writes {
		t.Errorf("relay: %d committed, %d writes (was %d); want 20 and no new write", c, w, writes)
	}
}

func bytesReaderAt(b []byte) io.ReaderAt { return bytes.NewReader(b) }

func TestSendWaitsForRelay(t *testing.T) {
	r := newTestRelay(t)
	r.start()
	s := enrolledSite(t, r)
	r.stop() // unreachable from now on
	dir, _ := twentyFiles(t, s)
	a := newTestAgent(t, s)

	type result struct {
		p   SendProgress
		err error
	}
	done := make(chan result, 1)
	var sawWaiting = make(chan struct{})
	go func() {
		p, err := a.Send(t.Context(), []string{dir}, func(p SendProgress) {
			if p.Pending == 20 && p.Elapsed > time.Second {
				select {
				case <-sawWaiting:
				default:
					close(sawWaiting)
				}
			}
		})
		done <- result{p, err}
	}()
	select {
	case <-sawWaiting:
	case res := <-done:
		t.Fatalf("Send returned with the relay down: %+v, %v", res.p, res.err)
	case <-time.After(30 * time.Second):
		t.Fatal("items never waited")
	}
	if c, _ := r.stats(); c != 0 {
		t.Fatalf("relay committed %d files while down", c)
	}
	r.start() // same address
	select {
	case res := <-done:
		if res.err != nil || res.p.Committed != 20 || res.p.Quarantined != 0 {
			t.Fatalf("Send = %+v, %v; want 20 committed", res.p, res.err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("items not delivered after the relay came up")
	}
	if c, _ := r.stats(); c != 20 {
		t.Errorf("relay committed %d files, want 20", c)
	}
}

func TestRunWatchesAndSendSeesLockedQueue(t *testing.T) {
	r := newTestRelay(t)
	r.start()
	s := enrolledSite(t, r)
	in := filepath.Join(s.dir, "incoming")
	must(t, os.MkdirAll(in, 0o700))
	s.cfg.Watch = []WatchConfig{{Path: in, Recursive: true, StableFor: 50 * time.Millisecond,
		RescanEvery: 200 * time.Millisecond, AfterCommit: Delete}}
	s.cfg.SetDefaults()
	a := newTestAgent(t, s)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()

	dir, _ := twentyFiles(t, s)
	must(t, os.Rename(dir, filepath.Join(in, "study")))
	eventually(t, "20 files committed by the relay", func() bool { c, _ := r.stats(); return c == 20 })
	eventually(t, "sources deleted", func() bool {
		n := 0
		filepath.WalkDir(in, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				n++
			}
			return nil
		})
		return n == 0
	})

	// A one-off send while the service runs is refused clearly.
	other := newTestAgent(t, s)
	if _, err := other.Send(t.Context(), []string{in}, nil); !errors.Is(err, ErrAgentRunning) ||
		!strings.Contains(err.Error(), "running agent service") {
		t.Errorf("Send while running = %v; want ErrAgentRunning", err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not stop")
	}

	// Restarted with a short keep_committed, the agent drops the items of
	// the committed files, whose sources are gone.
	if n := committedNow(t, s.cfg.QueueDB); n != 20 {
		t.Fatalf("%d committed items before the prune, want 20", n)
	}
	s.cfg.KeepCommitted = time.Nanosecond
	a = newTestAgent(t, s)
	ctx, cancel = context.WithCancel(t.Context())
	defer cancel()
	go func() { done <- a.Run(ctx) }()
	eventually(t, "committed items pruned", func() bool { return committedNow(t, s.cfg.QueueDB) == 0 })
	cancel()
	must(t, <-done)
}

func TestNewNeedsRecipientAndIdentity(t *testing.T) {
	s := newTestSite(t, "127.0.0.1:1")
	if _, err := New(s.cfg, zerolog.Nop()); !errors.Is(err, ErrNotEnrolled) {
		t.Errorf("New without identity = %v; want ErrNotEnrolled", err)
	}
	r := newTestRelay(t)
	r.start()
	s = enrolledSite(t, r)
	s.cfg.Recipients = nil
	if _, err := New(s.cfg, zerolog.Nop()); !errors.Is(err, ErrNoRecipient) {
		t.Errorf("New without recipient = %v; want ErrNoRecipient", err)
	}
	// A .pub file works as well as the text form.
	pub := filepath.Join(s.dir, "lab.pub")
	must(t, os.WriteFile(pub, []byte(s.lab.Recipient().String()+"\n"), 0o644))
	s.cfg.Recipients = []string{pub}
	if _, err := New(s.cfg, zerolog.Nop()); err != nil {
		t.Errorf("New with a .pub recipient: %v", err)
	}
}

func TestDefaultPolicyIsConfigsBasic(t *testing.T) {
	def, err := loadPolicy("")
	must(t, err)
	file, err := loadPolicy(filepath.Join("..", "configs", "policies", "basic.yaml"))
	must(t, err)
	if def.Hash() != file.Hash() || def.ID() != file.ID() || def.Version() != file.Version() {
		t.Errorf("built-in policy differs from configs/policies/basic.yaml")
	}
}
