package relay

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"

	"dicomgate/store"
	"dicomgate/transport"
)

// TestMemoryUploadCreatesNoStagingFile: a small file sent whole is
// received in memory and committed from there. The staging folder is a
// read-only filesystem, so that creating anything in it fails: the upload
// staged in memory commits, the one staged in a file cannot.
func TestMemoryUploadCreatesNoStagingFile(t *testing.T) {
	for _, st := range stagings {
		t.Run(st.name, func(t *testing.T) {
			dataDir := t.TempDir()
			mountTmpfs(t, filepath.Join(dataDir, stagingDirName), "64k", syscall.MS_RDONLY)
			e := startRelay(t, envOptions{config: st.config, dataDir: dataDir})
			r, _ := e.srv.resources()
			a := e.enrol(t, testProject, testSite, transport.ModeQUIC)
			f := e.seal(t, a, fileSpec{size: 3 * transport.DataChunkSize})
			rcpt, err := a.upload(context.Background(), f)
			if st.config != nil {
				if err == nil {
					t.Fatal("upload staged in a file committed without a staging folder")
				}
				return
			}
			if err != nil {
				t.Fatalf("upload: %v", err)
			}
			if !bytes.Equal(readObject(t, r.objects, rcpt.ObjectKey), f.sealed) {
				t.Fatal("committed object differs")
			}
			if used := e.srv.mem.used.Load(); used != 0 {
				t.Fatalf("%d bytes of the memory budget still held", used)
			}
		})
	}
}

// TestMemoryStagingFallsBackToFile: a file larger than the memory limit,
// and one meeting a budget spent by another upload in flight, are staged
// in files at once (never waiting for memory) and commit.
func TestMemoryStagingFallsBackToFile(t *testing.T) {
	const gate = transport.DataChunkSize
	var (
		mu      sync.Mutex
		paths   = map[string]string{} // file id -> staging path
		inFile  = map[string]bool{}   // file id -> staging file seen while receiving
		reached = make(chan struct{})
		once    sync.Once
	)
	e := startRelay(t, envOptions{
		config: func(c *Config) {
			c.Staging.MemoryBudget = 2 << 20
			c.Staging.MemoryFileLimit = 1536 << 10
		},
		onStaged: func(id string, staged int64) {
			mu.Lock()
			defer mu.Unlock()
			if _, seen := inFile[id]; !seen {
				_, err := os.Stat(paths[id])
				inFile[id] = err == nil
			}
			if id == "f-held" && staged >= gate {
				once.Do(func() { close(reached) })
			}
		},
	})
	r, _ := e.srv.resources()
	a := e.enrol(t, testProject, testSite, transport.ModeQUIC)
	b := e.enrol(t, testProject, testSite, transport.ModeQUIC)
	held := e.seal(t, a, fileSpec{id: "f-held", sop: "1.2.3.1", size: 1200 << 10})
	large := e.seal(t, b, fileSpec{id: "f-large", sop: "1.2.3.2", size: 1600 << 10})
	fits := e.seal(t, b, fileSpec{id: "f-fits", sop: "1.2.3.3", size: 1 << 20})
	mu.Lock()
	for ag, f := range map[*testAgent]*testFile{a: held, b: large} {
		paths[f.offer.ID] = stagePath(r.stagingDir, ag.id, f.offer)
	}
	paths[fits.offer.ID] = stagePath(r.stagingDir, b.id, fits.offer)
	mu.Unlock()

	ctx := context.Background()
	if _, err := b.upload(ctx, large); err != nil {
		t.Fatalf("file over the memory limit: %v", err)
	}
	// held takes 1.2 MiB of the 2 MiB budget and stays in flight; fits
	// (1 MiB) then finds the budget spent.
	hctx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() {
		_, err := a.conn.Upload(hctx, held.offer, &gatedReader{data: held.sealed, gate: gate, ctx: hctx})
		errc <- err
	}()
	<-reached
	rcpt, err := b.upload(ctx, fits)
	if err != nil {
		t.Fatalf("file meeting a spent budget: %v", err)
	}
	if !bytes.Equal(readObject(t, r.objects, rcpt.ObjectKey), fits.sealed) {
		t.Fatal("committed object differs")
	}
	cancel()
	<-errc
	unlock, err := e.srv.stages.lock(ctx, stagePath(r.stagingDir, a.id, held.offer))
	if err != nil {
		t.Fatal(err)
	}
	unlock()
	if _, err := a.upload(ctx, held); err != nil {
		t.Fatalf("resumed upload: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	for id, want := range map[string]bool{"f-large": true, "f-held": false, "f-fits": true} {
		if inFile[id] != want {
			t.Errorf("%s staged in a file: %v, want %v", id, inFile[id], want)
		}
	}
	if used := e.srv.mem.used.Load(); used != 0 {
		t.Errorf("%d bytes of the memory budget still held", used)
	}
	if left := dcmFiles(t, r.stagingDir); len(left) != 0 {
		t.Errorf("staging not cleaned: %v", left)
	}
}

// TestHashMismatchRefused: bytes that do not match the offer's SHA-256
// are refused as a hash mismatch, in memory as in a staging file, and
// nothing of them is committed or kept.
func TestHashMismatchRefused(t *testing.T) {
	for _, st := range stagings {
		t.Run(st.name, func(t *testing.T) {
			e := startRelay(t, envOptions{config: st.config})
			r, _ := e.srv.resources()
			a := e.enrol(t, testProject, testSite, transport.ModeQUIC)
			f := e.seal(t, a, fileSpec{size: 2 * transport.DataChunkSize})
			bad := bytes.Clone(f.sealed)
			bad[len(bad)/2] ^= 1
			_, err := a.conn.Upload(context.Background(), f.offer, bytes.NewReader(bad))
			wantRejected(t, err, transport.CodeHashMismatch)
			checkNothingCommitted(t, r, f)
			if left := dcmFiles(t, r.stagingDir); len(left) != 0 {
				t.Fatalf("staging holds %v after a hash mismatch", left)
			}
		})
	}
}

// checkNothingCommitted checks that the relay (r) holds no record of f and
// no object at all.
func checkNothingCommitted(t *testing.T, r *resources, f *testFile) {
	t.Helper()
	if _, err := r.db.GetFile(context.Background(), f.offer.ID); !errors.Is(err, store.ErrNotExist) {
		t.Fatalf("file record of a refused upload: %v", err)
	}
	n := 0
	if err := r.objects.List(context.Background(), "", func(store.ObjectInfo) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("%d objects stored for a refused upload", n)
	}
}

// TestMemoryStagingOnFullDisk puts the staging folder on a full tmpfs. An
// upload held in memory commits regardless; one cut part way cannot keep
// what arrived: it is refused as storage full, leaves nothing behind and
// gives its memory back, and the agent's next attempt sends the file
// again from zero and commits.
func TestMemoryStagingOnFullDisk(t *testing.T) {
	dataDir := t.TempDir()
	staging := filepath.Join(dataDir, stagingDirName)
	mountTmpfs(t, staging, "256k", 0)
	fillDisk(t, staging)

	e, a, f := cutUploadEnv(t, transport.ModeQUIC, transport.DataChunkSize, envOptions{dataDir: dataDir})
	r, _ := e.srv.resources()
	if left := dcmFiles(t, r.stagingDir); len(left) != 1 || left[0] != "ballast.bin" {
		t.Fatalf("staging holds %v, want the ballast only", left)
	}
	if n := e.metric(t, "dicomgate_relay_storage_full_refusals_total"); n != 1 {
		t.Fatalf("%v storage-full refusals, want 1", n)
	}
	if used := e.srv.mem.used.Load(); used != 0 {
		t.Fatalf("%d bytes of the memory budget still held", used)
	}
	rec := &offsetRecorder{r: bytes.NewReader(f.sealed), first: -1}
	rcpt, err := a.conn.Upload(context.Background(), f.offer, rec)
	if err != nil {
		t.Fatalf("upload with the staging folder full: %v", err)
	}
	if rec.first != 0 {
		t.Fatalf("sent from %d, want 0: nothing was kept", rec.first)
	}
	if !bytes.Equal(readObject(t, r.objects, rcpt.ObjectKey), f.sealed) {
		t.Fatal("committed object differs")
	}
}

// mountTmpfs mounts a tmpfs of size (mount(8) syntax) on dir with flags
// (syscall.MS_RDONLY...), a real filesystem the test can fill, unmounted
// when the test ends. It needs
// root or CAP_SYS_ADMIN; DICOMGATE_NO_MOUNT=1 makes it a skip (as in e2e).
func mountTmpfs(t *testing.T, dir, size string, flags uintptr) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", flags, "size="+size+",mode=0700"); err != nil {
		if os.Getenv("DICOMGATE_NO_MOUNT") == "1" {
			t.Skipf("DICOMGATE_NO_MOUNT=1: cannot mount a tmpfs: %v", err)
		}
		t.Fatalf("mount a tmpfs (needs root or CAP_SYS_ADMIN; DICOMGATE_NO_MOUNT=1 skips): %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
				t.Errorf("unmount %s: %v", dir, err)
			}
		}
	})
}

// fillDisk writes dir/ballast.bin until the filesystem is full.
func fillDisk(t *testing.T, dir string) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(dir, "ballast.bin"), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("ballast: %v", err)
			}
			return
		}
	}
}

var _ io.ReadSeeker = (*memReader)(nil)
