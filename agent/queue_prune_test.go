package agent

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// PruneCommitted drops the old committed items whose source is gone or
// changed, keeps those whose source is still in place (the folder's
// rescan must not take it again) and every item not committed, and walks
// the queue in batches from where it stopped.
func TestQueuePruneCommitted(t *testing.T) {
	dir := t.TempDir()
	q := openTestQueue(t, filepath.Join(dir, "queue.db"))
	defer q.Close()
	ctx := t.Context()
	src := func(name string) Source {
		p := filepath.Join(dir, name)
		must(t, os.WriteFile(p, []byte(name), 0o600))
		fi, err := os.Stat(p)
		must(t, err)
		return Source{Path: p, Size: fi.Size(), ModTime: fi.ModTime(), Root: dir}
	}
	commit := func(s Source) int64 {
		t.Helper()
		id, _, err := q.AddFound(ctx, s)
		must(t, err)
		items, err := q.Claim(ctx, StateSeen, 1)
		if err != nil || len(items) != 1 || items[0].ID != id {
			t.Fatalf("claim %d: %v %v", id, items, err)
		}
		must(t, q.MarkProcessedInMemory(ctx, id, &ProcessResult{FileID: "f" + s.Path, Manifest: []byte("m"), Size: 1, SHA256: []byte{1}}))
		items, err = q.Claim(ctx, StateSealed, 1)
		if err != nil || len(items) != 1 {
			t.Fatalf("claim sealed %d: %v %v", id, items, err)
		}
		must(t, q.MarkSentCommittedInMemory(ctx, id, []byte("receipt")))
		return id
	}
	kept, moved, changed := src("kept.dcm"), src("moved.dcm"), src("changed.dcm")
	keptID, movedID, changedID := commit(kept), commit(moved), commit(changed)
	must(t, os.Remove(moved.Path))
	must(t, os.WriteFile(changed.Path, []byte("another file under the same name"), 0o600))
	waiting, _, err := q.AddFound(ctx, src("waiting.dcm"))
	must(t, err)
	must(t, os.Remove(filepath.Join(dir, "waiting.dcm")))

	// Committed just now: younger than the cutoff, nothing goes.
	if n, end, err := q.PruneCommitted(ctx, time.Now().Add(-time.Hour), 10); err != nil || n != 0 || !end {
		t.Fatalf("prune of recent items: %d, %v, %v", n, end, err)
	}
	// One item a call: three calls reach the end, two items go.
	total := 0
	for i := range 3 {
		n, end, err := q.PruneCommitted(ctx, time.Now().Add(time.Hour), 1)
		must(t, err)
		total += n
		if end != (i == 2) {
			t.Fatalf("call %d: end = %v", i, end)
		}
	}
	if total != 2 {
		t.Fatalf("pruned %d items, want 2", total)
	}
	for id, want := range map[int64]bool{keptID: true, movedID: false, changedID: false, waiting: true} {
		_, err := q.Get(ctx, id)
		if (err == nil) != want {
			t.Errorf("item %d present = %v, want %v", id, err == nil, want)
		}
	}
	// The source still in place is not taken again by its folder.
	if _, added, err := q.AddFound(ctx, kept); err != nil || added {
		t.Fatalf("kept source queued again: added %v, %v", added, err)
	}
	// The cursor started over: a later call looks at the kept item again.
	if n, end, err := q.PruneCommitted(ctx, time.Now().Add(time.Hour), 10); err != nil || n != 0 || !end {
		t.Fatalf("second pass: %d, %v, %v", n, end, err)
	}
}
