package relay

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"dicomgate/store"
	"dicomgate/store/storetest"
	"dicomgate/transport"
)

// streamPartSize is the S3 part size of the streamed upload tests: the
// smallest S3 takes.
const streamPartSize = 5 << 20

// streamStores are the object stores that take streamed uploads: S3 (with
// 5 MiB parts) and the filesystem (16 MiB parts).
var streamStores = []string{"s3", "fs"}

// streamEnv starts a relay that streams files of 1 MiB and more to a real
// S3 server, or with o.store.Type "fs" to its filesystem store, and
// returns it with a client of the bucket for looking at multipart uploads
// (nil for fs).
func streamEnv(t *testing.T, o envOptions) (*env, *minio.Core) {
	t.Helper()
	if o.store.Type == "" || o.store.Type == "s3" && o.store.S3.Endpoint == "" {
		s3 := storetest.StartS3(t)
		s3.PartSize = streamPartSize
		o.store = StoreConfig{Type: "s3", S3: s3}
	}
	cfg := o.config
	o.config = func(c *Config) {
		c.Staging.StreamMin = 1 << 20
		c.Staging.MemoryFileLimit = 512 << 10
		if cfg != nil {
			cfg(c)
		}
	}
	e := startRelay(t, o)
	if o.store.Type != "s3" {
		return e, nil
	}
	core, err := minio.NewCore(o.store.S3.Endpoint, &minio.Options{
		Creds: credentials.NewStaticV4(o.store.S3.AccessKey, string(o.store.S3.SecretKey), ""), Region: o.store.S3.Region})
	if err != nil {
		t.Fatal(err)
	}
	return e, core
}

// partSize is the part size of e's streamed uploads.
func partSize(t *testing.T, e *env) int {
	t.Helper()
	r, _ := e.srv.resources()
	return int(r.objects.(store.PartStore).PartSize(1))
}

// openUploads returns the keys of the incomplete multipart uploads of the
// bucket (core) or the filesystem store's upload files.
func openUploads(t *testing.T, e *env, core *minio.Core) []string {
	t.Helper()
	if core == nil {
		var open []string
		filepath.WalkDir(e.cfg.Store.FS.Dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && strings.HasPrefix(d.Name(), ".parts-") {
				open = append(open, p)
			}
			return nil
		})
		return open
	}
	res, err := core.ListMultipartUploads(context.Background(), e.cfg.Store.S3.Bucket, "", "", "", "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, u := range res.Uploads {
		keys = append(keys, u.Key)
	}
	return keys
}

// stagingFiles returns the names in the staging folder.
func stagingFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// TestStreamedUpload: a file of at least stream_min goes to the object
// store (S3, filesystem) in parts while it arrives: no staging file exists at any point, nothing is
// visible in the bucket before the whole file verified, and the committed
// object (under a key naming the content) is the file, fetched back
// byte for byte.
func TestStreamedUpload(t *testing.T) {
	for _, kind := range streamStores {
		t.Run(kind, func(t *testing.T) { testStreamedUpload(t, kind) })
	}
}

func testStreamedUpload(t *testing.T, kind string) {
	var (
		mu       sync.Mutex
		seen     []string // staging files seen while receiving
		objects  int      // most objects listed while receiving
		dir      string
		objStore store.ObjectStore
	)
	e, core := streamEnv(t, envOptions{store: StoreConfig{Type: kind}, onStaged: func(_ string, n int64) {
		mu.Lock()
		defer mu.Unlock()
		if dir == "" || n%(1<<20) != 0 {
			return
		}
		seen = append(seen, stagingFiles(t, dir)...)
		k := 0
		objStore.List(context.Background(), "projects/", func(store.ObjectInfo) error { k++; return nil })
		objects = max(objects, k)
	}})
	r, _ := e.srv.resources()
	mu.Lock()
	dir, objStore = r.stagingDir, r.objects
	mu.Unlock()
	a := e.enrol(t, testProject, testSite, transport.ModeQUIC)
	f := e.seal(t, a, fileSpec{size: 2*partSize(t, e) + 300<<10})
	rcpt, err := a.upload(context.Background(), f)
	if err != nil {
		t.Fatalf("upload: %v", err)
	}
	if want := hex.EncodeToString(f.offer.SHA256[:]); !strings.Contains(rcpt.ObjectKey, "."+want+".dgseal") {
		t.Errorf("object key %s does not name the content (%s)", rcpt.ObjectKey, want)
	}
	if !bytes.Equal(readObject(t, r.objects, rcpt.ObjectKey), f.sealed) {
		t.Fatal("streamed object differs from the upload")
	}
	out := t.TempDir()
	res, err := Fetch(context.Background(), e.client(e.token), FetchOptions{Project: testProject, Identity: e.lab, OutDir: out})
	if err != nil || res.Fetched != 1 || res.Failed != 0 {
		t.Fatalf("fetch: %+v, %v", res, err)
	}
	checkFetched(t, out, []*testFile{f})
	mu.Lock()
	defer mu.Unlock()
	for _, n := range seen {
		if strings.HasSuffix(n, ".part") {
			t.Errorf("staging file %s written while streaming", n)
		}
	}
	if len(seen) == 0 {
		t.Error("no stream state seen while receiving: the upload was not streamed")
	}
	if objects != 0 {
		t.Errorf("%d objects visible before the file verified", objects)
	}
	if left := stagingFiles(t, dir); len(left) != 0 {
		t.Errorf("staging not cleaned: %v", left)
	}
	if open := openUploads(t, e, core); len(open) != 0 {
		t.Errorf("incomplete multipart uploads left: %v", open)
	}
	if used := e.srv.mem.used.Load(); used != 0 {
		t.Errorf("%d bytes of the memory budget still held", used)
	}
	checkHeld(t, e, map[string]float64{heldStream: 1, heldFile: 0, heldMemory: 0})
}

// checkHeld checks dicomgate_relay_uploads_received_total by label.
func checkHeld(t *testing.T, e *env, want map[string]float64) {
	t.Helper()
	fams, err := e.srv.mon.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range fams {
		if f.GetName() != "dicomgate_relay_uploads_received_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			got[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
		}
	}
	for held, n := range want {
		if got[held] != n {
			t.Errorf("uploads received held=%s: %v, want %v", held, got[held], n)
		}
	}
}

// TestStreamedResumeAfterCut cuts a streamed upload after its first part
// is stored and some bytes of the second arrived, over QUIC and TCP, and
// across a relay restart: the relay reports everything it received as
// its offset (the stored part plus the bytes kept in the staging file),
// the agent resumes from there sending nothing twice, and the object is
// the file.
func TestStreamedResumeAfterCut(t *testing.T) {
	for _, kind := range streamStores {
		for _, restart := range []bool{false, true} {
			for _, mode := range []transport.Mode{transport.ModeQUIC, transport.ModeTCP} {
				name := kind + "/" + string(mode)
				if restart {
					name += "/restart"
				}
				t.Run(name, func(t *testing.T) { testStreamedResume(t, kind, mode, restart) })
			}
		}
	}
}

func testStreamedResume(t *testing.T, kind string, mode transport.Mode, restart bool) {
	ps := streamPartSize
	if kind == "fs" {
		ps = store.DefaultPartSize // the filesystem store's parts
	}
	gate := int64(ps) + 3*transport.DataChunkSize
	onStaged, reached := gateHook(gate)
	dataDir := t.TempDir()
	o := envOptions{dataDir: dataDir, store: StoreConfig{Type: kind}, onStaged: onStaged}
	if kind == "s3" {
		o.store.S3 = storetest.StartS3(t)
		o.store.S3.PartSize = streamPartSize
	}
	e, core := streamEnv(t, o)
	if got := partSize(t, e); got != ps {
		t.Fatalf("part size %d, want %d", got, ps)
	}
	a := e.enrol(t, testProject, testSite, mode)
	f := e.seal(t, a, fileSpec{size: 2*ps + 100<<10})
	cutAfter(t, e, a, f, gate, reached)
	r, _ := e.srv.resources()
	path := stagePath(r.stagingDir, a.id, f.offer)
	st, err := loadStreamState(path)
	if err != nil || st == nil || len(st.Parts) != 1 {
		t.Fatalf("stream state after the cut: %+v, %v; want one stored part", st, err)
	}
	tail, err := os.ReadFile(path)
	if err != nil || int64(len(tail)) < gate-int64(ps) || !bytes.Equal(tail, f.sealed[ps:ps+len(tail)]) {
		t.Fatalf("kept tail: %d bytes (%v), want the %d received after the part", len(tail), err, gate-int64(ps))
	}
	if open := openUploads(t, e, core); len(open) != 1 {
		t.Fatalf("multipart uploads after the cut: %v, want the streamed one", open)
	}
	if restart {
		e.stop()
		o.store = StoreConfig{Type: kind, S3: e.cfg.Store.S3}
		e, _ = streamEnv(t, o)
		a.conn.Close()
		a.cfg.Addr = e.srv.Addr().String()
		if a.conn, err = transport.Dial(context.Background(), a.cfg); err != nil {
			t.Fatalf("dial the restarted relay: %v", err)
		}
		r, _ = e.srv.resources()
	}
	rec := &offsetRecorder{r: bytes.NewReader(f.sealed), first: -1}
	rcpt, err := a.conn.Upload(context.Background(), f.offer, rec)
	if err != nil {
		t.Fatalf("resumed upload: %v", err)
	}
	if want := int64(ps + len(tail)); rec.first != want {
		t.Fatalf("resumed from %d, want %d (the part stored and the bytes kept)", rec.first, want)
	}
	if !bytes.Equal(readObject(t, r.objects, rcpt.ObjectKey), f.sealed) {
		t.Fatal("resumed object differs")
	}
	if left := stagingFiles(t, r.stagingDir); len(left) != 0 {
		t.Fatalf("staging not cleaned: %v", left)
	}
	if open := openUploads(t, e, core); len(open) != 0 {
		t.Fatalf("incomplete multipart uploads left: %v", open)
	}
	checkDirNoPlaintext(t, dataDir)
}

// TestStreamedHashMismatch: a streamed file whose bytes do not match the
// offer is refused as a hash mismatch after all its parts were sent, and
// nothing of it is left: no object, no multipart upload, no staging file.
func TestStreamedHashMismatch(t *testing.T) {
	for _, kind := range streamStores {
		t.Run(kind, func(t *testing.T) { testStreamedHashMismatch(t, kind) })
	}
}

func testStreamedHashMismatch(t *testing.T, kind string) {
	e, core := streamEnv(t, envOptions{store: StoreConfig{Type: kind}})
	r, _ := e.srv.resources()
	a := e.enrol(t, testProject, testSite, transport.ModeQUIC)
	f := e.seal(t, a, fileSpec{size: partSize(t, e) + 200<<10})
	bad := bytes.Clone(f.sealed)
	bad[partSize(t, e)/2] ^= 1
	_, err := a.conn.Upload(context.Background(), f.offer, bytes.NewReader(bad))
	wantRejected(t, err, transport.CodeHashMismatch)
	checkNothingCommitted(t, r, f)
	if open := openUploads(t, e, core); len(open) != 0 {
		t.Fatalf("multipart uploads left: %v", open)
	}
	if left := stagingFiles(t, r.stagingDir); len(left) != 0 {
		t.Fatalf("staging holds %v after a hash mismatch", left)
	}
	// The right bytes then commit.
	if _, err := a.upload(context.Background(), f); err != nil {
		t.Fatalf("upload of the right bytes: %v", err)
	}
}

// TestStreamedFallsBackAndSweeps: with no room in the memory budget for a
// part the file is staged in a file and commits; a cut streamed upload
// not resumed within keep_partial is discarded by the staging sweep,
// its multipart upload aborted.
func TestStreamedFallsBackAndSweeps(t *testing.T) {
	t.Run("budget", func(t *testing.T) {
		var mu sync.Mutex
		var inFile bool
		var path string
		e, _ := streamEnv(t, envOptions{
			config: func(c *Config) { c.Staging.MemoryBudget = 4 << 20 },
			onStaged: func(string, int64) {
				mu.Lock()
				defer mu.Unlock()
				if _, err := os.Stat(path); err == nil {
					inFile = true
				}
			},
		})
		r, _ := e.srv.resources()
		a := e.enrol(t, testProject, testSite, transport.ModeQUIC)
		f := e.seal(t, a, fileSpec{size: 6 << 20}) // a 5 MiB part: more than the budget
		mu.Lock()
		path = stagePath(r.stagingDir, a.id, f.offer)
		mu.Unlock()
		rcpt, err := a.upload(context.Background(), f)
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		if !inFile {
			t.Error("no staging file while the budget had no room for a part")
		}
		if strings.Contains(rcpt.ObjectKey, hex.EncodeToString(f.offer.SHA256[:])) {
			t.Errorf("staged file committed under a streamed key %s", rcpt.ObjectKey)
		}
		checkHeld(t, e, map[string]float64{heldStream: 0, heldFile: 1})
	})
	t.Run("long name", func(t *testing.T) {
		// A key whose last element would pass NAME_MAX with the content's
		// hash: the file is staged, and commits under its usual key.
		e, _ := streamEnv(t, envOptions{store: StoreConfig{Type: "fs"}})
		a := e.enrol(t, testProject, testSite, transport.ModeQUIC)
		sop := "1.2.826.0.1.3680043.10.1.1." + strings.Repeat("7", 37)
		f := e.seal(t, a, fileSpec{id: strings.Repeat("i", 128), sop: sop, size: 2 << 20})
		rcpt, err := a.upload(context.Background(), f)
		if err != nil {
			t.Fatalf("upload: %v", err)
		}
		if strings.Contains(rcpt.ObjectKey, hex.EncodeToString(f.offer.SHA256[:])) {
			t.Errorf("streamed under %s, a name longer than 255 bytes", rcpt.ObjectKey)
		}
	})
	t.Run("sweep", func(t *testing.T) {
		e, core, _, _ := cutStreamed(t)
		r, _ := e.srv.resources()
		if n, _, err := e.srv.sweepStaging(context.Background(), r.stagingDir, time.Now().Add(-time.Hour)); err != nil || n != 0 {
			t.Fatalf("sweep of a fresh cut upload removed %d (%v)", n, err)
		}
		if open := openUploads(t, e, core); len(open) != 1 {
			t.Fatalf("multipart uploads before the sweep: %v", open)
		}
		n, _, err := e.srv.sweepStaging(context.Background(), r.stagingDir, time.Now().Add(time.Hour))
		if err != nil || n != 2 {
			t.Fatalf("sweep removed %d (%v), want the stream and its tail", n, err)
		}
		if open := openUploads(t, e, core); len(open) != 0 {
			t.Fatalf("multipart uploads after the sweep: %v", open)
		}
		if left := stagingFiles(t, r.stagingDir); len(left) != 0 {
			t.Fatalf("staging after the sweep: %v", left)
		}
	})
}

// TestStoredBodyCommit: a streamed file is in the object store, under its
// own key, before its commit decides: a conflict copies it under
// conflicts/ and drops it, the same plaintext committed under another
// file ID or the same file committed already answer with the committed
// object and drop it; the committed object is never touched.
func TestStoredBodyCommit(t *testing.T) {
	e := startRelay(t, envOptions{})
	r, _ := e.srv.resources()
	ctx := context.Background()
	a := e.enrol(t, testProject, testSite, transport.ModeQUIC)
	const sop = "1.2.826.0.1.3680043.10.1.1.7"
	first := e.seal(t, a, fileSpec{id: "f-a", sop: sop})
	committed, err := a.upload(ctx, first)
	if err != nil {
		t.Fatal(err)
	}
	agent, err := r.db.GetAgent(ctx, a.id)
	if err != nil {
		t.Fatal(err)
	}
	// commitStored puts f at its streamed key and commits it from there.
	commitStored := func(f *testFile) (*transport.Receipt, string, error) {
		t.Helper()
		m := f.manifest
		keys, err := instanceKeys(m.Project, m.StudyInstanceUID, m.SeriesInstanceUID, m.SOPInstanceUID, f.offer.ID)
		if err != nil {
			t.Fatal(err)
		}
		sha := hex.EncodeToString(f.offer.SHA256[:])
		keys = keys.streamed(sha)
		if err := r.objects.Put(ctx, keys.object, bytes.NewReader(f.sealed), f.offer.Size); err != nil {
			t.Fatal(err)
		}
		c := &checkedOffer{res: r, offer: f.offer, manifest: f.manifest, agent: agent, keys: keys, sha256: sha}
		rcpt, err := e.srv.commit(ctx, c, storedBody{s: e.srv, objects: r.objects, key: keys.object})
		return rcpt, keys.object, err
	}
	gone := func(key string) {
		t.Helper()
		if _, err := r.objects.Stat(ctx, key); !errors.Is(err, store.ErrNotExist) {
			t.Errorf("streamed object %s left: %v", key, err)
		}
	}

	other := e.seal(t, a, fileSpec{id: "f-b", sop: sop})
	_, key, err := commitStored(other)
	wantRejected(t, err, CodeConflict)
	gone(key)
	ck, _ := conflictKeys(testProject, sop, "f-b")
	if !bytes.Equal(readObject(t, r.objects, ck.object), other.sealed) {
		t.Error("conflict copy differs from the streamed file")
	}

	resealed := e.seal(t, a, fileSpec{id: "f-a2", sop: sop, plain: first.plain})
	rcpt, key, err := commitStored(resealed)
	if err != nil || rcpt.ObjectKey != committed.ObjectKey {
		t.Fatalf("re-sealed file: %+v, %v; want the committed object %s", rcpt, err, committed.ObjectKey)
	}
	gone(key)

	rcpt, key, err = commitStored(first)
	if err != nil || rcpt.ObjectKey != committed.ObjectKey || !bytes.Equal(rcpt.Signature, committed.Signature) {
		t.Fatalf("same file again: %+v, %v; want the first receipt", rcpt, err)
	}
	gone(key)
	if !bytes.Equal(readObject(t, r.objects, committed.ObjectKey), first.sealed) {
		t.Fatal("committed object changed")
	}
}

// TestSweepCompletedStream: the sweep of a streamed upload whose object
// was published but whose commit never happened deletes that object; one
// whose file is committed under that object keeps it.
func TestSweepCompletedStream(t *testing.T) {
	e, _ := streamEnv(t, envOptions{store: StoreConfig{Type: "fs"}})
	r, _ := e.srv.resources()
	ctx := context.Background()
	a := e.enrol(t, testProject, testSite, transport.ModeQUIC)
	f := e.seal(t, a, fileSpec{size: 2 << 20})
	rcpt, err := a.upload(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	const orphan = "projects/trial-1/studies/1.2.3/series/1.2.3.4/1.2.3.4.5.f-orphan.0123.dgseal"
	if err := r.objects.Put(ctx, orphan, strings.NewReader("sealed"), 6); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	for i, st := range []*streamState{
		{FileID: "f-orphan", Key: orphan, UploadID: "gone", PartSize: 1, Completed: true},
		{FileID: f.offer.ID, Key: rcpt.ObjectKey, UploadID: "gone", PartSize: 1, Completed: true},
	} {
		p := filepath.Join(r.stagingDir, fmt.Sprintf("s%d.part", i))
		if err := st.save(p); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(streamStatePath(p), old, old); err != nil {
			t.Fatal(err)
		}
	}
	if n, _, err := e.srv.sweepStaging(ctx, r.stagingDir, time.Now()); err != nil || n != 2 {
		t.Fatalf("sweep removed %d (%v), want both states", n, err)
	}
	if _, err := r.objects.Stat(ctx, orphan); !errors.Is(err, store.ErrNotExist) {
		t.Errorf("uncommitted streamed object kept: %v", err)
	}
	if !bytes.Equal(readObject(t, r.objects, rcpt.ObjectKey), f.sealed) {
		t.Error("committed object lost to the sweep")
	}
	if left := stagingFiles(t, r.stagingDir); len(left) != 0 {
		t.Errorf("staging after the sweep: %v", left)
	}
}

// cutStreamed streams a 10 MiB file of a new agent to a relay on S3 and
// cuts it once the first part is stored and one chunk more arrived.
func cutStreamed(t *testing.T) (*env, *minio.Core, *testAgent, *testFile) {
	t.Helper()
	const gate = streamPartSize + transport.DataChunkSize
	onStaged, reached := gateHook(gate)
	e, core := streamEnv(t, envOptions{onStaged: onStaged})
	a := e.enrol(t, testProject, testSite, transport.ModeQUIC)
	f := e.seal(t, a, fileSpec{size: 2 * streamPartSize})
	cutAfter(t, e, a, f, gate, reached)
	return e, core, a, f
}

// TestStreamedUploadDroppedByStore: a cut streamed upload whose parts the
// object store dropped meanwhile (an S3 lifecycle rule) is not retried for
// ever: the resume is refused as retryable, the relay forgets the upload,
// and the agent's next attempt sends the file from the start and commits.
func TestStreamedUploadDroppedByStore(t *testing.T) {
	e, core, a, f := cutStreamed(t)
	r, _ := e.srv.resources()
	st, err := loadStreamState(stagePath(r.stagingDir, a.id, f.offer))
	if err != nil || st == nil {
		t.Fatalf("stream state after the cut: %v", err)
	}
	if err := core.AbortMultipartUpload(context.Background(), e.cfg.Store.S3.Bucket, st.Key, st.UploadID); err != nil {
		t.Fatal(err)
	}
	_, err = a.upload(context.Background(), f)
	if err == nil || !transport.Retryable(err) {
		t.Fatalf("resume of a dropped upload: %v, want a retryable refusal", err)
	}
	// (The store may say so by cutting the part's request: the relay then
	// asks whether the upload still exists.)
	rec := &offsetRecorder{r: bytes.NewReader(f.sealed), first: -1}
	rcpt, err := a.conn.Upload(context.Background(), f.offer, rec)
	if err != nil {
		t.Fatalf("next attempt: %v", err)
	}
	if rec.first != 0 {
		t.Errorf("next attempt resumed from %d, want the start", rec.first)
	}
	if !bytes.Equal(readObject(t, r.objects, rcpt.ObjectKey), f.sealed) {
		t.Fatal("object differs")
	}
	if left := stagingFiles(t, r.stagingDir); len(left) != 0 {
		t.Errorf("staging not cleaned: %v", left)
	}
}
