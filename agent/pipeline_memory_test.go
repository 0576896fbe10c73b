package agent

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"dicomgate/internal/dicomtest"
)

// spoolWatcher is an Uploader around a dirUploader that records, for each
// upload, whether the sealed file came from the spool folder (an open
// file) or from memory, and what the spool folder held at that moment.
type spoolWatcher struct {
	*dirUploader
	spoolDir string

	mu       sync.Mutex
	fromFile map[int64][]bool // per item, per attempt
	spooled  int              // most files seen in the spool folder during an upload
}

func (w *spoolWatcher) Upload(ctx context.Context, it *Item, spool io.ReaderAt) ([]byte, error) {
	_, isFile := spool.(*os.File)
	entries, _ := os.ReadDir(w.spoolDir)
	w.mu.Lock()
	if w.fromFile == nil {
		w.fromFile = map[int64][]bool{}
	}
	w.fromFile[it.ID] = append(w.fromFile[it.ID], isFile)
	w.spooled = max(w.spooled, len(entries))
	w.mu.Unlock()
	return w.dirUploader.Upload(ctx, it, spool)
}

// runWatched runs a pipeline over q, with proc and a spoolWatcher whose
// first failFirst uploads fail, until the queue drains, and returns the
// stopped pipeline and the watcher.
func runWatched(t *testing.T, cfg *Config, q *Queue, proc Processor, failFirst int) (*Pipeline, *spoolWatcher) {
	t.Helper()
	up := &spoolWatcher{dirUploader: &dirUploader{dir: t.TempDir(), failFirst: failFirst}, spoolDir: cfg.SpoolDir}
	p := NewPipeline(testLogger(t), cfg, q, proc, up)
	stop := startPipeline(t, p)
	drain(t, p)
	stop()
	return p, up
}

func enqueueFiles(t *testing.T, q *Queue, n int) {
	t.Helper()
	dir := t.TempDir()
	for i := range n {
		src := filepath.Join(dir, fmt.Sprintf("%d.dcm", i))
		writeFile(t, src, fmt.Sprintf("study=2.25.%d\nslice %d\n", i%3, i))
		if _, err := NewIntake(testLogger(t), q, nil).Enqueue(t.Context(), src); err != nil {
			t.Fatal(err)
		}
	}
}

// TestPipelineSealsSmallFilesInMemory: small sources are sealed into
// memory and uploaded from there; the spool folder stays empty, each file
// is processed and stored once, and the memory budget is given back.
func TestPipelineSealsSmallFilesInMemory(t *testing.T) {
	cfg := testConfig(t)
	q := openTestQueue(t, cfg.QueueDB)
	defer q.Close()
	enqueueFiles(t, q, 12)
	proc := &copyProcessor{}
	p, up := runWatched(t, cfg, q, proc, 0)
	if c := counts(t, q); c[StateCommitted] != 12 {
		t.Fatalf("states %v; want 12 committed", c)
	}
	for id := int64(1); id <= 12; id++ {
		if got := up.fromFile[id]; !slices.Equal(got, []bool{false}) {
			t.Errorf("item %d uploaded from file per attempt %v; want one upload from memory", id, got)
		}
		if proc.count(id) != 1 {
			t.Errorf("item %d processed %d times", id, proc.count(id))
		}
	}
	if up.spooled != 0 {
		t.Errorf("spool folder held %d files during uploads; want none", up.spooled)
	}
	for id, n := range up.storedCounts() {
		if n != 1 {
			t.Errorf("%s stored %d times", id, n)
		}
	}
	if n := p.mem.inUse(); n != 0 {
		t.Errorf("%d bytes of the memory budget still reserved", n)
	}
}

// TestPipelineSpillsFailedMemoryUpload: when the upload from memory fails,
// the same sealed bytes are written to the spool and the retry sends them
// from there (so it can resume from the relay's offset); the file is not
// processed again.
func TestPipelineSpillsFailedMemoryUpload(t *testing.T) {
	cfg := testConfig(t)
	q := openTestQueue(t, cfg.QueueDB)
	defer q.Close()
	enqueueFiles(t, q, 3)
	proc := &copyProcessor{}
	_, up := runWatched(t, cfg, q, proc, 1)
	fromMemory := 0
	for id := int64(1); id <= 3; id++ {
		it, err := q.Get(t.Context(), id)
		must(t, err)
		if it.State != StateCommitted || proc.count(id) != 1 {
			t.Errorf("item %d: %s, processed %d times; want committed, processed once", id, it.State, proc.count(id))
		}
		// The first upload to fail sends from memory; files that wait
		// for an upload then go to the spool, as every later one does.
		if got := up.fromFile[id]; len(got) != 2 || !got[1] {
			t.Errorf("item %d uploaded from file per attempt %v; want the retry from the spool", id, got)
		} else if !got[0] {
			fromMemory++
		}
		want := fmt.Appendf(nil, "SEALED\nstudy=2.25.%d\nslice %d\n", (id-1)%3, id-1)
		got, err := os.ReadFile(filepath.Join(up.dir, it.FileID))
		must(t, err)
		if string(got) != string(want) {
			t.Errorf("item %d stored %q, want %q", id, got, want)
		}
	}
	if fromMemory == 0 {
		t.Error("no first upload was sent from memory")
	}
	if left, _ := filepath.Glob(filepath.Join(cfg.SpoolDir, "*")); len(left) != 0 {
		t.Errorf("spool files left after commit: %v", left)
	}
}

// TestPipelineMemoryBudgetFallsBack: with spool_memory -1 (no memory
// budget) every file goes through the spool folder.
func TestPipelineMemoryBudgetFallsBack(t *testing.T) {
	cfg := testConfig(t)
	cfg.SpoolMemory = -1
	q := openTestQueue(t, cfg.QueueDB)
	defer q.Close()
	enqueueFiles(t, q, 4)
	_, up := runWatched(t, cfg, q, &copyProcessor{}, 0)
	if c := counts(t, q); c[StateCommitted] != 4 {
		t.Fatalf("states %v; want 4 committed", c)
	}
	for id := int64(1); id <= 4; id++ {
		if got := up.fromFile[id]; !slices.Equal(got, []bool{true}) {
			t.Errorf("item %d uploaded from file per attempt %v; want the spool", id, got)
		}
	}
}

// blockingUploader blocks every upload until its context ends.
type blockingUploader struct{ started chan int64 }

func (u *blockingUploader) Upload(ctx context.Context, it *Item, _ io.ReaderAt) ([]byte, error) {
	u.started <- it.ID
	<-ctx.Done()
	return nil, ctx.Err()
}

// TestPipelineMemoryKeptOnStopLostOnCrash: a file sealed in memory whose
// upload a stop cuts off is written to the spool, so the next run sends
// it without processing it again; one whose memory a crash lost (sealed,
// no spool path) is processed again. Each is stored once.
func TestPipelineMemoryKeptOnStopLostOnCrash(t *testing.T) {
	cfg := testConfig(t)
	q := openTestQueue(t, cfg.QueueDB)
	defer q.Close()
	enqueueFiles(t, q, 2)
	proc := &copyProcessor{}
	p := NewPipeline(testLogger(t), cfg, q, proc, &blockingUploader{started: make(chan int64, 2)})
	stop := startPipeline(t, p)
	eventually(t, "both sealed", func() bool { return counts(t, q)[StateSealed] == 2 })
	stop()
	for id := int64(1); id <= 2; id++ {
		it, err := q.Get(t.Context(), id)
		must(t, err)
		data, err := os.ReadFile(it.SpoolPath)
		if it.State != StateSealed || err != nil || string(data) != fmt.Sprintf("SEALED\nstudy=2.25.%d\nslice %d\n", id-1, id-1) {
			t.Fatalf("item %d after stop: %s, spool file %q (%v); want sealed, kept in the spool", id, it.State, data, err)
		}
	}
	// Item 2 as a crash would leave it: sealed in memory only.
	it2, _ := q.Get(t.Context(), 2)
	must(t, os.Remove(it2.SpoolPath))
	if _, err := q.db.ExecContext(t.Context(), `UPDATE items SET spool_path = '' WHERE id = 2`); err != nil {
		t.Fatal(err)
	}
	up := &dirUploader{dir: t.TempDir()}
	p = NewPipeline(testLogger(t), cfg, q, proc, up)
	stop = startPipeline(t, p)
	drain(t, p)
	stop()
	for id, want := range map[int64]int{1: 1, 2: 2} {
		if it, _ := q.Get(t.Context(), id); it.State != StateCommitted || proc.count(id) != want {
			t.Errorf("item %d: %s, processed %d times; want committed, processed %d times", id, it.State, proc.count(id), want)
		}
	}
	if c := up.storedCounts(); len(c) != 2 || c["file-1"] != 1 || c["file-2"] != 1 {
		t.Errorf("stored %v; want each file once", c)
	}
}

func TestMemSpoolBudget(t *testing.T) {
	m := newMemSpool(3 * (1<<20 + memSpoolSlack))
	if m.reserve(memSpoolMaxSource+1) != nil {
		t.Error("a source over the limit was reserved")
	}
	var fs []*memFile
	for range 3 {
		f := m.reserve(1 << 20)
		if f == nil {
			t.Fatal("reserve within the budget failed")
		}
		fs = append(fs, f)
	}
	if m.reserve(1) != nil {
		t.Error("reserve past the budget succeeded")
	}
	// A file that outgrows its reservation is charged for it when held.
	fs[0].Write(make([]byte, 1<<20+memSpoolSlack+100))
	m.hold(7, fs[0])
	if got, want := m.inUse(), int64(3*(1<<20+memSpoolSlack)+100); got != want {
		t.Errorf("in use %d, want %d", got, want)
	}
	if m.take(7) != fs[0] || m.take(7) != nil {
		t.Error("take does not hand the held file out once")
	}
	for _, f := range fs {
		m.free(f)
	}
	if m.inUse() != 0 {
		t.Errorf("in use %d after freeing everything", m.inUse())
	}
}

// TestInMemoryUploadResumesAfterCut: a CT slice sealed in memory whose
// upload is cut mid-file (the relay stops) is resumed from the relay's
// offset with the same sealed bytes, through a real relay transport.
func TestInMemoryUploadResumesAfterCut(t *testing.T) {
	r := newTestRelay(t)
	r.start()
	s := enrolledSite(t, r)
	s.cfg.Retry = RetryConfig{Min: 10 * time.Millisecond, Max: 200 * time.Millisecond}
	data, err := dicomtest.New(5).CTSlice(dicomtest.SliceOptions{})
	must(t, err)
	dir := t.TempDir()
	src := filepath.Join(dir, "ct.dcm")
	must(t, os.WriteFile(src, data, 0o600))
	const holdAt = 300 << 10
	held := make(chan struct{})
	r.mu.Lock()
	r.holdAt, r.held = holdAt, held
	r.mu.Unlock()
	a := newTestAgent(t, s)

	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	type result struct {
		res SendProgress
		err error
	}
	done := make(chan result, 1)
	go func() { res, err := a.Send(ctx, []string{dir}, nil); done <- result{res, err} }()
	select {
	case <-held:
	case <-ctx.Done():
		t.Fatal("upload never reached the cut")
	}
	r.stop()
	r.start()
	got := <-done
	must(t, got.err)
	if got.res.Committed != 1 {
		t.Fatalf("Send = %+v; want 1 committed", got.res)
	}
	if offs := r.writeOffsets(); !slices.Equal(offs, []int64{0, holdAt}) {
		t.Errorf("write offsets %v; want [0 %d]: the retry resumes where the relay stopped", offs, holdAt)
	}
	q := openTestQueue(t, s.cfg.QueueDB)
	items, err := q.List(t.Context(), StateCommitted, 10)
	must(t, err)
	q.Close()
	want, _, err := s.reference(t, data)
	must(t, err)
	if len(items) != 1 || string(s.open(t, r.object(items[0].FileID))) != string(want) {
		t.Error("relay object does not decrypt to the anonymised file")
	}
	if left, _ := filepath.Glob(filepath.Join(s.cfg.SpoolDir, "*")); len(left) != 0 {
		t.Errorf("spool files left after commit: %v", left)
	}
}
