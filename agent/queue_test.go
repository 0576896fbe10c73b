package agent

import (
	"errors"
	"path/filepath"
	"testing"
	"time"
)

func TestQueueAddOnceAcrossRestarts(t *testing.T) {
	db := filepath.Join(t.TempDir(), "queue.db")
	mtime := time.Unix(1700000000, 123456789)
	q := openTestQueue(t, db)
	id, added, err := q.Add(t.Context(), Source{Path: "/in/a.dcm", Size: 10, ModTime: mtime})
	if err != nil || !added {
		t.Fatalf("first Add = %d, %v, %v; want added", id, added, err)
	}
	if _, err := OpenQueue(t.Context(), testLogger(t), db); !errors.Is(err, ErrQueueLocked) {
		t.Errorf("second OpenQueue while open: err = %v, want ErrQueueLocked", err)
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}

	q = openTestQueue(t, db)
	defer q.Close()
	tests := []struct {
		name      string
		src       Source
		wantAdded bool
		wantSame  bool
	}{
		{"same identity after reopen", Source{Path: "/in/a.dcm", Size: 10, ModTime: mtime}, false, true},
		{"new content, same path (size)", Source{Path: "/in/a.dcm", Size: 11, ModTime: mtime}, true, false},
		{"new content, same path (mtime)", Source{Path: "/in/a.dcm", Size: 10, ModTime: mtime.Add(time.Nanosecond)}, true, false},
		{"other path", Source{Path: "/in/b.dcm", Size: 10, ModTime: mtime}, true, false},
	}
	for _, tt := range tests {
		got, added, err := q.Add(t.Context(), tt.src)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if added != tt.wantAdded || (got == id) != tt.wantSame {
			t.Errorf("%s: Add = %d, added %v; want added %v, same id %v", tt.name, got, added, tt.wantAdded, tt.wantSame)
		}
	}
	it, err := q.Get(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if it.State != StateSeen || !it.SourceModTime.Equal(mtime) || it.SourceSize != 10 {
		t.Errorf("item = %+v", it)
	}
	if _, err := q.Get(t.Context(), 9999); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get(9999) err = %v, want ErrNotFound", err)
	}
}

func TestQueueTransitions(t *testing.T) {
	q := openTestQueue(t, filepath.Join(t.TempDir(), "queue.db"))
	defer q.Close()
	ctx := t.Context()
	id, _, err := q.Add(ctx, Source{Path: "/in/x", Size: 1, ModTime: time.Unix(1, 0)})
	if err != nil {
		t.Fatal(err)
	}
	claim := func(s State) *Item {
		t.Helper()
		items, err := q.Claim(ctx, s, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(items) != 1 || items[0].ID != id {
			t.Fatalf("Claim(%s) = %d items, want item %d", s, len(items), id)
		}
		return items[0]
	}
	// A transition on an unclaimed item is refused.
	if err := q.MarkAnonymised(ctx, id, &ProcessResult{FileID: "f"}); !errors.Is(err, ErrStateConflict) {
		t.Fatalf("MarkAnonymised unclaimed: err = %v, want ErrStateConflict", err)
	}
	claim(StateSeen)
	if items, _ := q.Claim(ctx, StateSeen, 10); len(items) != 0 {
		t.Fatalf("claimed a leased item twice")
	}
	steps := []struct {
		name    string
		do      func() error
		want    State
		wantErr bool
	}{
		{"anonymised", func() error {
			return q.MarkAnonymised(ctx, id, &ProcessResult{FileID: "f1", StudyUID: "2.25.9", Manifest: []byte("m"), Size: 5, SHA256: []byte{1}})
		}, StateAnonymised, false},
		{"sealed", func() error { return q.MarkSealed(ctx, id, "/spool/1.sealed") }, StateSealed, false},
		{"sealed out of order", func() error { return q.MarkCommitted(ctx, id) }, StateSealed, true},
		{"sent", func() error { claim(StateSealed); return q.MarkSent(ctx, id, []byte("r")) }, StateSent, false},
		{"committed", func() error { return q.MarkCommitted(ctx, id) }, StateCommitted, false},
		{"no way out of committed", func() error { return q.Quarantine(ctx, id, "x") }, StateCommitted, true},
	}
	for _, s := range steps {
		err := s.do()
		if s.wantErr != errors.Is(err, ErrStateConflict) || (!s.wantErr && err != nil) {
			t.Errorf("%s: err = %v", s.name, err)
		}
		it, gerr := q.Get(ctx, id)
		if gerr != nil {
			t.Fatal(gerr)
		}
		if it.State != s.want {
			t.Errorf("%s: state = %s, want %s", s.name, it.State, s.want)
		}
	}
	it, _ := q.Get(ctx, id)
	// The manifest served the upload; a committed item keeps its receipt,
	// not the manifest.
	if it.FileID != "f1" || it.StudyKey != "2.25.9" || string(it.Receipt) != "r" || len(it.Manifest) != 0 || it.Size != 5 {
		t.Errorf("recorded fields = %+v", it)
	}
	c := counts(t, q)
	if c[StateCommitted] != 1 || c[StateSeen] != 0 {
		t.Errorf("Counts = %v", c)
	}
	if n, _ := q.Pending(ctx); n != 0 {
		t.Errorf("Pending = %d, want 0", n)
	}
}

func TestQueueLeaseReclaimAfterCrash(t *testing.T) {
	db := filepath.Join(t.TempDir(), "queue.db")
	ctx := t.Context()
	q := openTestQueue(t, db)
	var ids []int64
	for i, p := range []string{"/a", "/b", "/c"} {
		id, _, err := q.Add(ctx, Source{Path: p, Size: int64(i), ModTime: time.Unix(5, 0)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	items, err := q.Claim(ctx, StateSeen, 3)
	if err != nil || len(items) != 3 {
		t.Fatalf("Claim = %d, %v", len(items), err)
	}
	// /a reaches sealed and /b anonymised; then the process "crashes":
	// the queue is closed with leases still held.
	must(t, q.MarkAnonymised(ctx, ids[0], &ProcessResult{FileID: "a"}))
	must(t, q.MarkSealed(ctx, ids[0], "/spool/a"))
	if got, _ := q.Claim(ctx, StateSealed, 10); len(got) != 1 {
		t.Fatalf("Claim sealed = %d items", len(got))
	}
	must(t, q.MarkAnonymised(ctx, ids[1], &ProcessResult{FileID: "b"}))
	if got, _ := q.Claim(ctx, StateSeen, 10); len(got) != 0 {
		t.Fatalf("leased items claimable before restart")
	}
	must(t, q.Close())

	q = openTestQueue(t, db)
	defer q.Close()
	for _, tt := range []struct {
		state State
		want  int64
	}{{StateSealed, ids[0]}, {StateAnonymised, ids[1]}, {StateSeen, ids[2]}} {
		got, err := q.Claim(ctx, tt.state, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].ID != tt.want {
			t.Errorf("after restart Claim(%s) = %v, want item %d", tt.state, got, tt.want)
		}
	}
}

func TestQueueRetryBackoff(t *testing.T) {
	q := openTestQueue(t, filepath.Join(t.TempDir(), "queue.db"))
	defer q.Close()
	ctx := t.Context()
	id, _, _ := q.Add(ctx, Source{Path: "/r", Size: 1, ModTime: time.Unix(1, 0)})
	q.Claim(ctx, StateSeen, 1)
	must(t, q.Retry(ctx, id, time.Now().Add(time.Hour), "relay unreachable"))
	if got, _ := q.Claim(ctx, StateSeen, 1); len(got) != 0 {
		t.Errorf("item claimable before its next attempt")
	}
	it, _ := q.Get(ctx, id)
	if it.Attempts != 1 || it.Reason != "relay unreachable" || it.State != StateSeen {
		t.Errorf("after Retry: %+v", it)
	}
	if age, err := q.OldestWaiting(ctx); err != nil || age <= 0 {
		t.Errorf("OldestWaiting = %v, %v; want > 0", age, err)
	}
}

func TestStudyGrouping(t *testing.T) {
	q := openTestQueue(t, filepath.Join(t.TempDir(), "queue.db"))
	defer q.Close()
	ctx := t.Context()
	join := func(path, study string) {
		t.Helper()
		id, _, err := q.Add(ctx, Source{Path: path, Size: 1, ModTime: time.Unix(1, 0)})
		must(t, err)
		if _, err := q.Claim(ctx, StateSeen, 100); err != nil {
			t.Fatal(err)
		}
		must(t, q.MarkAnonymised(ctx, id, &ProcessResult{FileID: path, StudyUID: study}))
	}
	join("/1", "2.25.1")
	join("/2", "2.25.1")
	join("/3", "2.25.2")
	const idle = time.Minute
	studies, err := q.Studies(ctx, idle, time.Now())
	must(t, err)
	if len(studies) != 2 || studies[0].Key != "2.25.1" || studies[0].Instances != 2 || studies[1].Instances != 1 {
		t.Fatalf("Studies = %+v", studies)
	}
	if studies[0].Complete {
		t.Errorf("study complete before idle period")
	}
	later := studies[0].LastSeen.Add(idle)
	studies, _ = q.Studies(ctx, idle, later)
	if !studies[0].Complete {
		t.Errorf("study not complete after idle period")
	}
	// A late instance joins the same study, which is open again.
	join("/4", "2.25.1")
	studies, _ = q.Studies(ctx, idle, later)
	if len(studies) != 2 || studies[0].Key != "2.25.1" || studies[0].Instances != 3 || studies[0].Complete {
		t.Errorf("after late instance: %+v", studies)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
