package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

func TestPipelineEndToEnd200Files(t *testing.T) {
	cfg := testConfig(t)
	root := filepath.Dir(cfg.SpoolDir)
	in, done, up := filepath.Join(root, "in"), filepath.Join(root, "done"), filepath.Join(root, "up")
	os.MkdirAll(in, 0o700)
	os.MkdirAll(up, 0o700)
	cfg.Watch = []WatchConfig{{Path: in, Recursive: true, StableFor: 50 * time.Millisecond,
		RescanEvery: 500 * time.Millisecond, AfterCommit: Move, MoveTo: done}}
	cfg.SetDefaults()
	q := openTestQueue(t, cfg.QueueDB)
	defer q.Close()
	proc, upl := &copyProcessor{}, &dirUploader{dir: up, failFirst: 1}
	p := NewPipeline(testLogger(t), cfg, q, proc, upl)
	stopP := startPipeline(t, p)
	stopI := runIntake(t, q, cfg.Watch[0])

	const n = 200
	for i := range n {
		writeFile(t, filepath.Join(in, fmt.Sprintf("s%d", i%7), fmt.Sprintf("IM%04d.dcm", i)),
			fmt.Sprintf("study=2.25.%d\ninstance %d\n", i%7, i))
	}
	eventually(t, "all files committed", func() bool { return counts(t, q)[StateCommitted] == n })
	drain(t, p)
	stopI()
	stopP()

	c := counts(t, q)
	if c[StateCommitted] != n || c[StateSeen]+c[StateAnonymised]+c[StateSealed]+c[StateSent]+c[StateQuarantined] != 0 {
		t.Errorf("Counts = %v", c)
	}
	stored := upl.storedCounts()
	if len(stored) != n {
		t.Errorf("%d files stored, want %d", len(stored), n)
	}
	for id, k := range stored {
		if k != 1 {
			t.Errorf("%s stored %d times", id, k)
		}
	}
	for i := range n {
		rel := filepath.Join(fmt.Sprintf("s%d", i%7), fmt.Sprintf("IM%04d.dcm", i))
		if _, err := os.Stat(filepath.Join(done, rel)); err != nil {
			t.Errorf("source not moved to %s: %v", rel, err)
		}
		if _, err := os.Stat(filepath.Join(in, rel)); err == nil {
			t.Errorf("source still in watched folder: %s", rel)
		}
	}
	items, err := q.List(t.Context(), "", 1000)
	must(t, err)
	if len(items) != n {
		t.Errorf("%d items queued, want %d", len(items), n)
	}
	for _, it := range items {
		id := it.ID
		got, err := os.ReadFile(filepath.Join(up, it.FileID))
		if err != nil || !strings.HasPrefix(string(got), "SEALED\nstudy=") || string(it.Receipt) != "receipt:"+it.FileID {
			t.Errorf("item %d: uploaded %q (%v), receipt %q", id, got, err, it.Receipt)
		}
	}
	if spool, _ := os.ReadDir(cfg.SpoolDir); len(spool) != 0 {
		t.Errorf("spool not empty: %d files", len(spool))
	}
	studies, err := p.Studies(t.Context())
	if err != nil || len(studies) != 7 {
		t.Fatalf("Studies = %d, %v; want 7", len(studies), err)
	}
	total := 0
	for _, s := range studies {
		total += s.Committed
	}
	if total != n {
		t.Errorf("studies hold %d committed instances, want %d", total, n)
	}
}

func TestPipelineRetriesThenSucceeds(t *testing.T) {
	cfg := testConfig(t)
	up := t.TempDir()
	q := openTestQueue(t, cfg.QueueDB)
	defer q.Close()
	src := filepath.Join(t.TempDir(), "a.dcm")
	writeFile(t, src, "study=2.25.1\n")
	in := NewIntake(testLogger(t), q, nil)
	ids, err := in.Enqueue(t.Context(), src)
	must(t, err)
	upl := &dirUploader{dir: up, failFirst: 3}
	p := NewPipeline(testLogger(t), cfg, q, &copyProcessor{}, upl)
	stop := startPipeline(t, p)
	drain(t, p)
	stop()
	it, err := q.Get(t.Context(), ids[0])
	must(t, err)
	if it.State != StateCommitted || upl.attemptsOf(it.ID) != 4 {
		t.Errorf("state %s after %d upload attempts; want committed after 4", it.State, upl.attemptsOf(it.ID))
	}
	if _, err := os.Stat(src); err != nil {
		t.Errorf("send source not kept: %v", err)
	}
}

func TestPipelineQuarantinesPermanentErrors(t *testing.T) {
	cfg := testConfig(t)
	in := filepath.Join(filepath.Dir(cfg.SpoolDir), "in")
	cfg.Watch = []WatchConfig{{Path: in, AfterCommit: Delete}}
	q := openTestQueue(t, cfg.QueueDB)
	defer q.Close()
	bad := filepath.Join(in, "Doe^John.dcm") // a path with PHI in it
	good := filepath.Join(in, "ok.dcm")
	writeFile(t, bad, "PERMANENT")
	writeFile(t, good, "fine")
	for _, f := range []string{bad, good} {
		fi, _ := os.Stat(f)
		_, _, err := q.Add(t.Context(), Source{Path: f, Size: fi.Size(), ModTime: fi.ModTime(), Root: in})
		must(t, err)
	}
	p := NewPipeline(testLogger(t), cfg, q, &copyProcessor{}, &dirUploader{dir: t.TempDir()})
	stop := startPipeline(t, p)
	drain(t, p)
	stop()

	it, err := q.Get(t.Context(), 1)
	must(t, err)
	if it.State != StateQuarantined || !strings.Contains(it.Reason, "file is not DICOM") {
		t.Errorf("bad file: state %s reason %q", it.State, it.Reason)
	}
	reason, err := os.ReadFile(filepath.Join(cfg.QuarantineDir, "1.reason"))
	if err != nil {
		t.Fatalf("reason file: %v", err)
	}
	if !strings.Contains(string(reason), "file is not DICOM") || strings.Contains(string(reason), "Doe") {
		t.Errorf("reason file = %q", reason)
	}
	if got, err := os.ReadFile(bad); err != nil || string(got) != "PERMANENT" {
		t.Errorf("quarantined source touched: %q, %v", got, err)
	}
	if _, err := os.Stat(good); !os.IsNotExist(err) {
		t.Errorf("committed source not deleted (after_commit: delete): %v", err)
	}
	if c := counts(t, q); c[StateCommitted] != 1 || c[StateQuarantined] != 1 {
		t.Errorf("Counts = %v", c)
	}
}

func TestPipelineGracefulShutdownAndResume(t *testing.T) {
	cfg := testConfig(t)
	cfg.Retry = RetryConfig{Min: time.Hour, Max: time.Hour} // a failed upload waits
	src := t.TempDir()
	q := openTestQueue(t, cfg.QueueDB)
	in := NewIntake(testLogger(t), q, nil)
	writeFile(t, filepath.Join(src, "a.dcm"), "study=2.25.1\na")
	writeFile(t, filepath.Join(src, "b.dcm"), "study=2.25.1\nb")
	writeFile(t, filepath.Join(src, "block.dcm"), "BLOCK") // processing in progress at shutdown
	_, err := in.Enqueue(t.Context(), src)
	must(t, err)

	// First run: the relay is down, so a and b stop at sealed; block.dcm is
	// being processed when the agent stops.
	proc := &copyProcessor{}
	p := NewPipeline(testLogger(t), cfg, q, proc, &dirUploader{dir: t.TempDir(), failAll: true})
	stop := startPipeline(t, p)
	eventually(t, "two items sealed and tried", func() bool {
		items, _ := q.Studies(t.Context(), 0, time.Now())
		return len(items) == 1 && items[0].Instances == 2 && proc.count(3) == 1 && counts(t, q)[StateSealed] == 2
	})
	stop()
	c := counts(t, q)
	if c[StateSealed] != 2 || c[StateSeen] != 1 {
		t.Fatalf("after shutdown Counts = %v; want 2 sealed, 1 seen", c)
	}
	if blocked, _ := q.Get(t.Context(), 3); blocked.Attempts != 0 {
		t.Errorf("shutdown counted as a failed attempt: %+v", blocked)
	}
	must(t, q.Close())

	// Restart: sealed items go straight to upload, without processing again.
	writeFile(t, filepath.Join(src, "block.dcm"), "now fine") // a new version: the old item is quarantined
	q = openTestQueue(t, cfg.QueueDB)
	defer q.Close()
	_, err = in.Enqueue(t.Context(), src) // in is bound to the closed queue; use a new intake
	if err == nil {
		t.Fatalf("Enqueue on a closed queue succeeded")
	}
	in = NewIntake(testLogger(t), q, nil)
	ids, err := in.Enqueue(t.Context(), src)
	must(t, err)
	if len(ids) != 1 {
		t.Fatalf("re-enqueue queued %d items, want only the new version of block.dcm", len(ids))
	}
	cfg.Retry = RetryConfig{Min: 5 * time.Millisecond, Max: 20 * time.Millisecond}
	proc2, upl := &copyProcessor{}, &dirUploader{dir: t.TempDir()}
	p = NewPipeline(testLogger(t), cfg, q, proc2, upl)
	q.retryNow(t) // the hour-long back-off of the first run is over
	stop = startPipeline(t, p)
	drain(t, p)
	stop()
	for _, id := range []int64{1, 2} {
		if proc2.count(id) != 0 {
			t.Errorf("sealed item %d processed again after restart", id)
		}
	}
	if got := upl.storedCounts(); len(got) != 3 {
		t.Errorf("uploaded %v, want 3 files", got)
	}
	if c := counts(t, q); c[StateCommitted] != 3 || c[StateQuarantined] != 1 {
		t.Errorf("after resume Counts = %v; want 3 committed, 1 quarantined (stale version)", c)
	}
}

func TestPipelineReprocessesLostSpoolFile(t *testing.T) {
	cfg := testConfig(t)
	cfg.Retry = RetryConfig{Min: time.Hour, Max: time.Hour}
	q := openTestQueue(t, cfg.QueueDB)
	defer q.Close()
	src := filepath.Join(t.TempDir(), "a.dcm")
	writeFile(t, src, "study=2.25.1\n")
	_, err := NewIntake(testLogger(t), q, nil).Enqueue(t.Context(), src)
	must(t, err)
	proc := &copyProcessor{}
	p := NewPipeline(testLogger(t), cfg, q, proc, &dirUploader{dir: t.TempDir(), failAll: true})
	stop := startPipeline(t, p)
	eventually(t, "item sealed", func() bool { it, _ := q.Get(t.Context(), 1); return it.State == StateSealed && it.Attempts == 1 })
	stop()
	it, _ := q.Get(t.Context(), 1)
	must(t, os.Remove(it.SpoolPath)) // the spool is lost

	q.retryNow(t)
	p = NewPipeline(testLogger(t), cfg, q, proc, &dirUploader{dir: t.TempDir()})
	stop = startPipeline(t, p)
	drain(t, p)
	stop()
	if it, _ := q.Get(t.Context(), 1); it.State != StateCommitted || proc.count(1) != 2 {
		t.Errorf("state %s, processed %d times; want committed after processing again", it.State, proc.count(1))
	}
}

// TestPipelineWaitsOutRelayStorageFull: while the relay refuses every
// upload for lack of storage, nothing is quarantined or committed, the
// pause is reported once (warning, gauge), and once the relay has space
// every file is committed exactly once and the gauge drops.
func TestPipelineWaitsOutRelayStorageFull(t *testing.T) {
	const n = 30
	cfg := testConfig(t)
	q := openTestQueue(t, cfg.QueueDB)
	defer q.Close()
	src := t.TempDir()
	for i := range n {
		writeFile(t, filepath.Join(src, fmt.Sprintf("f%02d.dcm", i)), fmt.Sprintf("study=2.25.1\nslice %d\n", i))
	}
	_, err := NewIntake(testLogger(t), q, nil).Enqueue(t.Context(), src)
	must(t, err)
	var log syncLog
	upl := &dirUploader{dir: t.TempDir()}
	upl.setFull(true)
	p := NewPipeline(zerolog.New(&log), cfg, q, &copyProcessor{}, upl)
	m := NewMetrics(q, time.Hour)
	p.SetMetrics(m)
	gauge := func() float64 {
		mfs, err := m.Registry().Gather()
		must(t, err)
		for _, mf := range mfs {
			for _, s := range mf.GetMetric() {
				if mf.GetName() == "dicomgate_agent_storage_full" && s.GetLabel()[0].GetValue() == diskRelay {
					return s.GetGauge().GetValue()
				}
			}
		}
		return -1
	}
	stop := startPipeline(t, p)
	defer func() {
		if stop != nil {
			stop()
		}
	}()
	eventually(t, "the relay's full storage reported", func() bool { return gauge() == 1 && upl.totalAttempts() >= 10 })
	if c := counts(t, q); c[StateQuarantined] != 0 || c[StateCommitted] != 0 {
		t.Fatalf("while the relay is full: %v", c)
	}
	upl.setFull(false)
	drain(t, p)
	eventually(t, "the gauge back to 0", func() bool { return gauge() == 0 })
	stop()
	stop = nil
	if c := counts(t, q); c[StateCommitted] != n || c[StateQuarantined] != 0 {
		t.Fatalf("after the relay has space: %v", c)
	}
	for id, k := range upl.storedCounts() {
		if k != 1 {
			t.Errorf("%s stored %d times", id, k)
		}
	}
	if k := log.count("relay storage full: uploads paused until the relay has space"); k != 1 {
		t.Errorf("pause reported %d times, want once", k)
	}
}
