package agent

import (
	"errors"
	"path/filepath"
	"testing"
	"time"
)

// quarantined adds an item, claims it and quarantines it.
func quarantined(t *testing.T, q *Queue, path string) int64 {
	t.Helper()
	ctx := t.Context()
	id, _, err := q.Add(ctx, Source{Path: path, Size: 1, ModTime: time.Unix(1, 0)})
	must(t, err)
	if _, err := q.Claim(ctx, StateSeen, 10); err != nil {
		t.Fatal(err)
	}
	must(t, q.Retry(ctx, id, time.Now(), "flaky"))
	items, err := q.Claim(ctx, StateSeen, 10)
	if err != nil || len(items) != 1 {
		t.Fatalf("claim: %v %d", err, len(items))
	}
	must(t, q.Quarantine(ctx, id, "burned-in annotation"))
	return id
}

func TestQueueRequeue(t *testing.T) {
	db := filepath.Join(t.TempDir(), "queue.db")
	q := openTestQueue(t, db)
	ctx := t.Context()
	id := quarantined(t, q, "/in/a")

	un, err := q.Unreported(ctx, 10)
	if err != nil || len(un) != 1 || un[0].ID != id || un[0].Reason != "burned-in annotation" {
		t.Fatalf("Unreported = %v, %v", un, err)
	}
	must(t, q.MarkReported(ctx, id))
	must(t, q.MarkReported(ctx, id)) // idempotent
	if un, _ := q.Unreported(ctx, 10); len(un) != 0 {
		t.Fatalf("reported item still unreported")
	}

	must(t, q.Requeue(ctx, id))
	it, err := q.Get(ctx, id)
	must(t, err)
	if it.State != StateSeen || it.Attempts != 0 || it.Reason != "" || !it.NextAttemptAt.IsZero() {
		t.Fatalf("after Requeue: %+v", it)
	}
	if err := q.Requeue(ctx, id); !errors.Is(err, ErrStateConflict) {
		t.Fatalf("Requeue of a seen item: %v, want ErrStateConflict", err)
	}
	if err := q.Requeue(ctx, 999); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Requeue of no item: %v, want ErrNotFound", err)
	}
	// Quarantined again, it is reported again.
	items, err := q.Claim(ctx, StateSeen, 10)
	if err != nil || len(items) != 1 {
		t.Fatalf("claim requeued: %v %d", err, len(items))
	}
	must(t, q.Quarantine(ctx, id, "again"))
	if un, _ := q.Unreported(ctx, 10); len(un) != 1 {
		t.Fatalf("re-quarantined item not reported again")
	}

	// The cursor survives a restart.
	if v, err := q.Cursor(ctx, commandsCursor, -1); err != nil || v != -1 {
		t.Fatalf("Cursor = %d, %v", v, err)
	}
	must(t, q.SetCursor(ctx, commandsCursor, 41))
	must(t, q.SetCursor(ctx, commandsCursor, 42))
	must(t, q.Close())
	q = openTestQueue(t, db)
	defer q.Close()
	if v, err := q.Cursor(ctx, commandsCursor, -1); err != nil || v != 42 {
		t.Fatalf("Cursor after reopen = %d, %v", v, err)
	}
}

func TestQueueDiscard(t *testing.T) {
	q := openTestQueue(t, filepath.Join(t.TempDir(), "queue.db"))
	defer q.Close()
	ctx := t.Context()
	id := quarantined(t, q, "/in/b")

	it, err := q.Discard(ctx, id, "padmin")
	must(t, err)
	if it.State != StateQuarantined || it.Reason != "discarded by padmin" || !it.Discarded() || it.SourcePath != "/in/b" {
		t.Fatalf("after Discard: %+v", it)
	}
	if un, _ := q.Unreported(ctx, 10); len(un) != 0 {
		t.Fatal("discarded item still to report")
	}
	if err := q.Requeue(ctx, id); !errors.Is(err, ErrStateConflict) {
		t.Fatalf("Requeue of a discarded item: %v, want ErrStateConflict", err)
	}
	other, _, err := q.Add(ctx, Source{Path: "/in/c", Size: 1, ModTime: time.Unix(1, 0)})
	must(t, err)
	if _, err := q.Discard(ctx, other, "padmin"); !errors.Is(err, ErrStateConflict) {
		t.Fatalf("Discard of a seen item: %v, want ErrStateConflict", err)
	}
}
