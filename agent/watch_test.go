package agent

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// runIntake runs an Intake over one folder until the returned stop
// function is called.
func runIntake(t *testing.T, q *Queue, w WatchConfig) (stop func()) {
	t.Helper()
	in := NewIntake(testLogger(t), q, []WatchConfig{w})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- in.Run(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Intake.Run: %v", err)
		}
	}
}

func TestWatchWaitsForStableFile(t *testing.T) {
	dir := t.TempDir()
	q := openTestQueue(t, filepath.Join(dir, "queue.db"))
	defer q.Close()
	in := filepath.Join(dir, "in")
	os.Mkdir(in, 0o700)
	stop := runIntake(t, q, WatchConfig{Path: in, StableFor: time.Second, RescanEvery: time.Hour})
	defer stop()

	// Keep the file growing, well inside StableFor between writes: it must
	// not be taken while it grows.
	f, err := os.Create(filepath.Join(in, "growing.dcm"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		if _, err := f.Write([]byte("0123456789")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
		if n := counts(t, q)[StateSeen]; n != 0 {
			t.Fatalf("file queued while still being written (after %d writes)", i+1)
		}
	}
	f.Close()
	eventually(t, "stable file queued", func() bool { return counts(t, q)[StateSeen] == 1 })
	it, err := q.Get(t.Context(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if it.SourceSize != 300 || it.Root != in {
		t.Errorf("queued item size %d root %q, want the finished file (300 bytes)", it.SourceSize, it.Root)
	}
}

func TestWatchIgnoresTempNamesAndQueuesOnce(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "queue.db")
	in := filepath.Join(dir, "in")
	names := []string{"a.dcm", "sub/b.dcm", ".hidden", "._a.dcm", "c.tmp", "d.part", "e.partial", "f.dcm~", ".cache/g.dcm"}
	for _, n := range names {
		writeFile(t, filepath.Join(in, n), "x")
	}
	w := WatchConfig{Path: in, Recursive: true, StableFor: 20 * time.Millisecond, RescanEvery: 50 * time.Millisecond}
	want := map[string]bool{filepath.Join(in, "a.dcm"): true, filepath.Join(in, "sub/b.dcm"): true}

	for run := range 2 { // the second run is a restart over the same files
		q := openTestQueue(t, db)
		stop := runIntake(t, q, w)
		if run == 0 {
			writeFile(t, filepath.Join(in, "later.dcm"), "y") // found by an event
			want[filepath.Join(in, "later.dcm")] = true
		}
		eventually(t, "files queued", func() bool { return counts(t, q)[StateSeen] >= len(want) })
		// Let several rescans and stability checks pass over the same files.
		ch := q.Changed()
		select {
		case <-ch:
			t.Errorf("run %d: queue changed after all files were queued", run)
		case <-time.After(300 * time.Millisecond):
		}
		stop()
		items, err := q.List(t.Context(), "", 100)
		must(t, err)
		for _, it := range items {
			if !want[it.SourcePath] {
				t.Errorf("run %d: queued %s", run, it.SourcePath)
			}
		}
		if n := counts(t, q)[StateSeen]; n != len(want) {
			t.Errorf("run %d: %d items, want %d", run, n, len(want))
		}
		q.Close()
	}
}

func TestWatchRescanFindsMissedFiles(t *testing.T) {
	dir := t.TempDir()
	q := openTestQueue(t, filepath.Join(dir, "queue.db"))
	defer q.Close()
	in := filepath.Join(dir, "in")
	os.Mkdir(in, 0o700)
	w, err := newWatcher(testLogger(t), q, WatchConfig{Path: in, StableFor: time.Millisecond, RescanEvery: time.Hour}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.close()
	// The events of this file are never read, as if lost: only the rescan
	// can find it.
	writeFile(t, filepath.Join(in, "missed.dcm"), "x")
	w.check(t.Context())
	if n := counts(t, q)[StateSeen]; n != 0 {
		t.Fatalf("queued without an event or a scan")
	}
	w.scan(in)
	time.Sleep(5 * time.Millisecond) // > StableFor
	w.check(t.Context())
	if n := counts(t, q)[StateSeen]; n != 1 {
		t.Fatalf("rescan: %d items queued, want 1", n)
	}
}

func TestWatchNewContentSamePathIsNewItem(t *testing.T) {
	dir := t.TempDir()
	q := openTestQueue(t, filepath.Join(dir, "queue.db"))
	defer q.Close()
	in := filepath.Join(dir, "in")
	os.Mkdir(in, 0o700)
	stop := runIntake(t, q, WatchConfig{Path: in, StableFor: 20 * time.Millisecond, RescanEvery: time.Hour})
	defer stop()
	p := filepath.Join(in, "a.dcm")
	writeFile(t, p, "first")
	eventually(t, "first queued", func() bool { return counts(t, q)[StateSeen] == 1 })
	writeFile(t, p, "second version")
	eventually(t, "second queued", func() bool { return counts(t, q)[StateSeen] == 2 })
}

func TestEnqueue(t *testing.T) {
	dir := t.TempDir()
	q := openTestQueue(t, filepath.Join(dir, "queue.db"))
	defer q.Close()
	in := NewIntake(testLogger(t), q, nil)
	src := filepath.Join(dir, "send")
	for _, n := range []string{"a.dcm", "x/b.dcm", "c.tmp", ".d"} {
		writeFile(t, filepath.Join(src, n), n)
	}
	tests := []struct {
		path string
		want int
	}{
		{filepath.Join(src, "a.dcm"), 1},
		{src, 1}, // a.dcm is already queued
		{src, 0},
	}
	for _, tt := range tests {
		ids, err := in.Enqueue(t.Context(), tt.path)
		if err != nil || len(ids) != tt.want {
			t.Errorf("Enqueue(%s) = %v, %v; want %d new", tt.path, ids, err, tt.want)
		}
	}
	_, err := in.Enqueue(t.Context(), filepath.Join(src, "nope"))
	if !errors.Is(err, fs.ErrNotExist) || strings.Contains(err.Error(), src) {
		t.Errorf("Enqueue(missing) err = %v; want not-exist without the path", err)
	}
}
