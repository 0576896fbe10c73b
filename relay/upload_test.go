package relay

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"dicomgate/store"
	"dicomgate/transport"
)

func TestEnrolmentToken(t *testing.T) {
	e := startRelay(t, envOptions{})
	ctx := context.Background()
	addr := e.srv.Addr().String()
	newKey := func() ed25519.PrivateKey {
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}

	tok, err := e.srv.CreateEnrolmentToken(ctx, testProject, testSite)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := transport.Enrol(ctx, addr, tok, newKey(), "a")
	if err != nil {
		t.Fatalf("first use: %v", err)
	}
	r, _ := e.srv.resources()
	ag, err := r.db.GetAgent(ctx, resp.AgentID)
	if err != nil || ag.Project != testProject || ag.Site != testSite || len(ag.PublicKey) != ed25519.PublicKeySize {
		t.Fatalf("agent record = %+v, %v", ag, err)
	}
	_, err = transport.Enrol(ctx, addr, tok, newKey(), "b")
	wantRejected(t, err, transport.CodeEnrolmentRefused)

	// An expired token, stored as CreateEnrolmentToken would.
	fp, _ := e.srv.CAFingerprint()
	expired, hash, err := transport.NewEnrolmentToken(fp)
	if err != nil {
		t.Fatal(err)
	}
	err = r.db.CreateEnrolmentToken(ctx, store.EnrolmentToken{
		Hash: hex.EncodeToString(hash[:]), Project: testProject, Site: testSite, ExpiresAt: time.Now().Add(-time.Minute),
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = transport.Enrol(ctx, addr, expired, newKey(), "c")
	wantRejected(t, err, transport.CodeEnrolmentRefused)

	for _, tc := range []struct{ project, site string }{
		{"nope", testSite},
		{testProject, "bad/site"},
		{testProject, ""},
	} {
		if _, err := e.srv.CreateEnrolmentToken(ctx, tc.project, tc.site); err == nil {
			t.Errorf("token for %q/%q created", tc.project, tc.site)
		}
	}
}

func TestUploadRefusals(t *testing.T) {
	e := startRelay(t, envOptions{})
	ctx := context.Background()
	a := e.enrol(t, testProject, testSite, transport.ModeTCP)
	_, stranger, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		spec   fileSpec
		mutate func(f *testFile)
		code   string
	}{
		{"signed by another key", fileSpec{signer: stranger}, nil, CodeBadManifest},
		{"policy not approved", fileSpec{policyHash: otherPolicyHash}, nil, CodePolicyNotApproved},
		{"other project", fileSpec{project: "other"}, nil, transport.CodeForbidden},
		{"other site", fileSpec{site: "site-b"}, nil, transport.CodeForbidden},
		{"uid with letters", fileSpec{sop: "1.2.3.x"}, nil, CodeBadIdentifier},
		{"uid path traversal", fileSpec{series: "1.2/../3"}, nil, CodeBadIdentifier},
		{"file id with slash", fileSpec{id: "a/b"}, nil, CodeBadIdentifier},
		{"manifest not for this offer", fileSpec{}, func(f *testFile) { f.offer.ID = "another-id" }, CodeBadManifest},
		{"offer hash differs from manifest", fileSpec{}, func(f *testFile) {
			f.sealed = append(bytes.Clone(f.sealed), 0)
			f.offer.Size++
		}, CodeBadManifest},
		{"bytes differ from offer", fileSpec{}, func(f *testFile) {
			f.sealed = bytes.Clone(f.sealed)
			f.sealed[len(f.sealed)/2] ^= 1
		}, transport.CodeHashMismatch},
		{"garbage manifest", fileSpec{}, func(f *testFile) { f.offer.Manifest = []byte(`{"type":"x"}`) }, CodeBadManifest},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.spec.sop = or(tc.spec.sop, "1.2.826.0.1.3680043.10.9.1."+itoa(i))
			f := e.seal(t, a, tc.spec)
			if tc.mutate != nil {
				tc.mutate(f)
			}
			_, err := a.upload(ctx, f)
			wantRejected(t, err, tc.code)
		})
	}
	r, _ := e.srv.resources()
	if studies, _ := r.db.ListStudies(ctx, testProject); len(studies) != 0 {
		t.Fatalf("refused files were committed: %+v", studies)
	}
	// Nothing left in staging but nothing committed either.
	n := 0
	r.objects.List(ctx, "", func(store.ObjectInfo) error { n++; return nil })
	if n != 0 {
		t.Fatalf("%d objects stored for refused uploads", n)
	}
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func itoa(i int) string { return string(rune('0'+i/10)) + string(rune('0'+i%10)) }

func TestConflictKeepsOriginal(t *testing.T) {
	e := startRelay(t, envOptions{})
	ctx := context.Background()
	a := e.enrol(t, testProject, testSite, transport.ModeTCP)
	const sop = "1.2.826.0.1.3680043.10.1.1.1"
	orig := e.seal(t, a, fileSpec{id: "orig", sop: sop})
	rec, err := a.upload(ctx, orig)
	if err != nil {
		t.Fatal(err)
	}

	// A different file (other plaintext) under the same SOP instance UID.
	clash := e.seal(t, a, fileSpec{id: "clash", sop: sop})
	_, err = a.upload(ctx, clash)
	wantRejected(t, err, CodeConflict)
	// Re-sending it is refused again and recorded once.
	_, err = a.upload(ctx, clash)
	wantRejected(t, err, CodeConflict)

	r, _ := e.srv.resources()
	got := readObject(t, r.objects, rec.ObjectKey)
	if !bytes.Equal(got, orig.sealed) {
		t.Fatal("original object was overwritten")
	}
	if kept := readObject(t, r.objects, "conflicts/"+testProject+"/"+sop+"/clash.dgseal"); !bytes.Equal(kept, clash.sealed) {
		t.Fatal("conflicting object not kept under conflicts/")
	}
	conflicts, err := r.db.ListConflicts(ctx, testProject)
	if err != nil || len(conflicts) != 1 || conflicts[0].FileID != "clash" || conflicts[0].ExistingFileID != "orig" {
		t.Fatalf("conflicts = %+v, %v", conflicts, err)
	}

	// The same plaintext sealed again under a new file ID is the same
	// instance: acknowledged, not stored twice.
	resealed := e.seal(t, a, fileSpec{id: "resealed", sop: sop, plain: orig.plain})
	rcpt, err := a.upload(ctx, resealed)
	if err != nil {
		t.Fatalf("re-sealed upload: %v", err)
	}
	if rcpt.ObjectKey != rec.ObjectKey {
		t.Fatalf("re-sealed receipt key = %s", rcpt.ObjectKey)
	}
	if got := readObject(t, r.objects, rec.ObjectKey); !bytes.Equal(got, orig.sealed) {
		t.Fatal("original object was overwritten by the re-sealed copy")
	}

	// Sealed again under the same file ID (the ID derives from the
	// plaintext: a C-STORE re-sent after a crash, a lost spool file): the
	// same instance too, never a conflict that would quarantine it.
	again := e.seal(t, a, fileSpec{id: "orig", sop: sop, plain: orig.plain})
	if bytes.Equal(again.sealed, orig.sealed) {
		t.Fatal("sealing twice gave the same bytes")
	}
	rcpt, err = a.upload(ctx, again)
	if err != nil {
		t.Fatalf("re-sealed upload under the same file id: %v", err)
	}
	if rcpt.ObjectKey != rec.ObjectKey {
		t.Fatalf("re-sealed receipt key = %s", rcpt.ObjectKey)
	}
	if got := readObject(t, r.objects, rec.ObjectKey); !bytes.Equal(got, orig.sealed) {
		t.Fatal("original object was overwritten by the copy sealed again")
	}
	if conflicts, _ := r.db.ListConflicts(ctx, testProject); len(conflicts) != 1 {
		t.Fatalf("conflicts = %+v, want only the clash", conflicts)
	}
}

func readObject(t *testing.T, s store.ObjectStore, key string) []byte {
	t.Helper()
	rc, err := s.Get(context.Background(), key, 0)
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRevokedAgentRefused(t *testing.T) {
	e := startRelay(t, envOptions{})
	ctx := context.Background()
	for i, mode := range []transport.Mode{transport.ModeQUIC, transport.ModeTCP} {
		t.Run(string(mode), func(t *testing.T) {
			n := "1.2.3." + itoa(i)
			a := e.enrol(t, testProject, testSite, mode)
			if _, err := a.upload(ctx, e.seal(t, a, fileSpec{sop: n + ".1"})); err != nil {
				t.Fatal(err)
			}
			if err := e.srv.RevokeAgent(ctx, a.id); err != nil {
				t.Fatal(err)
			}
			if c, err := transport.Dial(ctx, a.cfg); err == nil {
				c.Close()
				t.Fatal("revoked agent connected")
			}
			// A connection opened before the revocation cannot upload either.
			_, err := a.upload(ctx, e.seal(t, a, fileSpec{sop: n + ".2"}))
			wantRejected(t, err, transport.CodeForbidden)
		})
	}
	if err := e.srv.RevokeAgent(ctx, "nobody"); !errors.Is(err, store.ErrNotExist) {
		t.Fatalf("revoke unknown: %v", err)
	}
}

// gatedReader serves data but blocks reads at or past gate until ctx ends.
type gatedReader struct {
	data []byte
	gate int64
	ctx  context.Context
}

func (g *gatedReader) ReadAt(p []byte, off int64) (int, error) {
	if off >= g.gate {
		<-g.ctx.Done()
		return 0, g.ctx.Err()
	}
	return bytes.NewReader(g.data).ReadAt(p, off)
}

// offsetRecorder records the first offset read.
type offsetRecorder struct {
	r     *bytes.Reader
	mu    sync.Mutex
	first int64
}

func (o *offsetRecorder) ReadAt(p []byte, off int64) (int, error) {
	o.mu.Lock()
	if o.first < 0 {
		o.first = off
	}
	o.mu.Unlock()
	return o.r.ReadAt(p, off)
}

// TestResumeAfterCut cuts an upload once the relay holds one chunk, in
// memory and (memory staging off) in the staging file: the staging file
// then holds exactly the bytes received, and the agent resumes from there,
// sending none of them again.
func TestResumeAfterCut(t *testing.T) {
	const gate = transport.DataChunkSize
	for _, mode := range []transport.Mode{transport.ModeQUIC, transport.ModeTCP} {
		for _, st := range stagings {
			t.Run(string(mode)+"/"+st.name, func(t *testing.T) {
				e, a, f := cutUpload(t, mode, gate, st.config)
				r, _ := e.srv.resources()
				staged, err := os.ReadFile(stagePath(r.stagingDir, a.id, f.offer))
				if err != nil {
					t.Fatalf("cut upload not kept: %v", err)
				}
				if int64(len(staged)) < gate || !bytes.Equal(staged, f.sealed[:len(staged)]) {
					t.Fatalf("staging file holds %d bytes (a prefix: %v), want the %d received", len(staged),
						bytes.HasPrefix(f.sealed, staged), gate)
				}

				rec := &offsetRecorder{r: bytes.NewReader(f.sealed), first: -1}
				rcpt, err := a.conn.Upload(context.Background(), f.offer, rec)
				if err != nil {
					t.Fatalf("resumed upload: %v", err)
				}
				if rec.first != int64(len(staged)) {
					t.Fatalf("resumed from %d, want %d (the staged bytes)", rec.first, len(staged))
				}
				if !bytes.Equal(readObject(t, r.objects, rcpt.ObjectKey), f.sealed) {
					t.Fatal("resumed object differs")
				}
				checkDirNoPlaintext(t, e.cfg.DataDir)
				if left := dcmFiles(t, r.stagingDir); len(left) != 0 {
					t.Fatalf("staging not cleaned: %v", left)
				}
			})
		}
	}
}

// stagings are the two ways the relay holds an upload before its commit.
var stagings = []struct {
	name   string
	config func(*Config)
}{
	{"memory", nil},
	{"file", func(c *Config) { c.Staging.MemoryBudget = -1 }},
}

func TestStageLocksWaitAndCancel(t *testing.T) {
	var l stageLocks
	l.m = map[string]*stageLock{}
	unlock, err := l.lock(context.Background(), "k")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := l.lock(ctx, "k"); !errors.Is(err, context.Canceled) {
		t.Fatalf("second lock: %v", err)
	}
	other, err := l.lock(context.Background(), "other")
	if err != nil {
		t.Fatal(err)
	}
	other()
	unlock()
	again, err := l.lock(context.Background(), "k")
	if err != nil {
		t.Fatal(err)
	}
	again()
	held, ok := l.tryLock("k")
	if !ok {
		t.Fatal("tryLock of a free key failed")
	}
	if _, ok := l.tryLock("k"); ok {
		t.Fatal("tryLock of a held key succeeded")
	}
	ctx, cancel = context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, err := l.lock(ctx, "k"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("lock of a key tryLock holds: %v", err)
	}
	held()
	if len(l.m) != 0 {
		t.Fatalf("locks leaked: %d", len(l.m))
	}
}

// TestResumeOverDamagedStaging: staged bytes damaged while the agent was
// away (a relay crash tearing an unsynced file, a disk fault) are not the
// agent's fault. The resumed upload is refused as retryable, not as a hash
// mismatch (which would quarantine a good file), the staging file is
// dropped, and the next attempt starts from zero and commits.
func TestResumeOverDamagedStaging(t *testing.T) {
	for _, st := range stagings {
		t.Run(st.name, func(t *testing.T) {
			e, a, f := cutUpload(t, transport.ModeQUIC, transport.DataChunkSize, st.config)
			r, _ := e.srv.resources()
			staged := dcmFiles(t, r.stagingDir)
			if len(staged) != 1 {
				t.Fatalf("staging holds %v, want one partial file", staged)
			}
			path := filepath.Join(r.stagingDir, staged[0])
			fh, err := os.OpenFile(path, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := fh.WriteAt([]byte("torn"), 100); err != nil {
				t.Fatal(err)
			}
			fh.Close()

			_, err = a.conn.Upload(context.Background(), f.offer, bytes.NewReader(f.sealed))
			var rej *transport.RejectedError
			if err == nil || !transport.Retryable(err) || (errors.As(err, &rej) && rej.Code == transport.CodeHashMismatch) {
				t.Fatalf("resume over damaged staging: %v, want a retryable refusal", err)
			}
			if left := dcmFiles(t, r.stagingDir); len(left) != 0 {
				t.Fatalf("damaged staging file kept: %v", left)
			}
			rec := &offsetRecorder{r: bytes.NewReader(f.sealed), first: -1}
			rcpt, err := a.conn.Upload(context.Background(), f.offer, rec)
			if err != nil {
				t.Fatalf("upload after the damaged staging was dropped: %v", err)
			}
			if rec.first != 0 {
				t.Fatalf("restarted from %d, want 0", rec.first)
			}
			if !bytes.Equal(readObject(t, r.objects, rcpt.ObjectKey), f.sealed) {
				t.Fatal("committed object differs")
			}
		})
	}
}

// cutUpload starts a relay (its configuration adjusted by config, if not
// nil) and an agent over mode, and uploads a file of four chunks whose
// stream is cut once the relay has staged gate bytes; it checks that the
// cut is reported as retryable, and returns once the relay is done with
// the cut stream (it holds the file's stage lock until then).
func cutUpload(t *testing.T, mode transport.Mode, gate int64, config func(*Config)) (*env, *testAgent, *testFile) {
	t.Helper()
	return cutUploadEnv(t, mode, gate, envOptions{config: config})
}

// cutUploadEnv is cutUpload with a relay started with o (its onStaged
// replaced).
func cutUploadEnv(t *testing.T, mode transport.Mode, gate int64, o envOptions) (*env, *testAgent, *testFile) {
	t.Helper()
	var reached <-chan struct{}
	o.onStaged, reached = gateHook(gate)
	e := startRelay(t, o)
	a := e.enrol(t, testProject, testSite, mode)
	f := e.seal(t, a, fileSpec{size: 4 * transport.DataChunkSize})
	cutAfter(t, e, a, f, gate, reached)
	return e, a, f
}

// gateHook returns an onStaged hook and a channel it closes once the
// relay holds gate bytes of an upload.
func gateHook(gate int64) (func(string, int64), <-chan struct{}) {
	reached := make(chan struct{})
	var once sync.Once
	return func(_ string, staged int64) {
		if staged >= gate {
			once.Do(func() { close(reached) })
		}
	}, reached
}

// cutAfter uploads f with a, the agent's reader blocking at gate, cuts the
// stream once reached is closed (the relay holds gate bytes), checks that
// the agent sees a retryable error, and waits until the relay is done with
// the cut upload (it holds its stage lock until then).
func cutAfter(t *testing.T, e *env, a *testAgent, f *testFile, gate int64, reached <-chan struct{}) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := a.conn.Upload(ctx, f.offer, &gatedReader{data: f.sealed, gate: gate, ctx: ctx})
		errc <- err
	}()
	<-reached
	cancel()
	if err := <-errc; err == nil || !transport.Retryable(err) {
		t.Fatalf("cut upload: %v, want a retryable error", err)
	}
	r, _ := e.srv.resources()
	unlock, err := e.srv.stages.lock(context.Background(), stagePath(r.stagingDir, a.id, f.offer))
	if err != nil {
		t.Fatal(err)
	}
	unlock()
}
