package agent

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// BenchmarkSegmentChecks measures the reclaim queries of one journal
// segment after a long intake history: 100,000 committed items recorded
// in it over its reuses, and a few still in the pipeline.
func BenchmarkSegmentChecks(b *testing.B) {
	q, seg := segmentHistoryQueue(b, 100_000)
	ctx := b.Context()
	b.ResetTimer()
	for b.Loop() {
		busy, err := q.segmentBusy(ctx, seg)
		if err != nil || !busy {
			b.Fatal(busy, err)
		}
		needed, err := q.segmentNeeded(ctx, seg)
		if err != nil || !needed {
			b.Fatal(needed, err)
		}
		if _, err := q.segmentQuarantined(ctx, seg); err != nil {
			b.Fatal(err)
		}
	}
}

// segmentHistoryQueue returns a queue holding n committed items and 3
// pending ones whose sources are records of one segment, and its path.
func segmentHistoryQueue(tb testing.TB, n int) (*Queue, string) {
	tb.Helper()
	dir := tb.TempDir()
	q, err := OpenQueue(tb.Context(), testLogger(tb), filepath.Join(dir, "queue.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { q.Close() })
	seg := filepath.Join(dir, "received", journalDirName, segmentName(1))
	tx, err := q.db.BeginTx(tb.Context(), nil)
	if err != nil {
		tb.Fatal(err)
	}
	now := time.Now().UnixNano()
	for i := range n + 3 {
		state := StateCommitted
		if i >= n {
			state = StateSeen
		}
		if _, err := tx.ExecContext(tb.Context(), `INSERT INTO items (source_path, source_size, source_mtime, root, state, created_at, updated_at)
			VALUES (?, 1, 0, '', ?, ?, ?)`, segmentSource(seg, int64(i%64)*4096, uint64(i+1)), state, now, now); err != nil {
			tb.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		tb.Fatal(err)
	}
	// Other segments' items around it.
	other := filepath.Join(dir, "received", journalDirName, segmentName(2))
	if _, err := q.db.ExecContext(tb.Context(), `INSERT INTO items (source_path, source_size, source_mtime, root, state, created_at, updated_at)
		VALUES (?, 1, 0, '', ?, ?, ?)`, segmentSource(other, 0, uint64(n+10)), StateCommitted, now, now); err != nil {
		tb.Fatal(err)
	}
	return q, seg
}

// The reclaim queries answer right with a long history of committed items
// in the segment, and SQLite runs them on an index that leaves the
// committed items out (items_open_source), so that their cost does not
// grow with that history.
func TestSegmentQueriesUseOpenIndex(t *testing.T) {
	q, seg := segmentHistoryQueue(t, 2000)
	ctx := t.Context()
	lo, hi := segmentRange(seg)
	if busy, err := q.segmentBusy(ctx, seg); err != nil || !busy {
		t.Fatalf("segmentBusy = %v, %v; want true (3 items seen)", busy, err)
	}
	// The 3 pending items quarantined, one of them discarded.
	if _, err := q.db.ExecContext(ctx, `UPDATE items SET state = ?, reason = 'bad' WHERE state = ?`, StateQuarantined, StateSeen); err != nil {
		t.Fatal(err)
	}
	if busy, _ := q.segmentBusy(ctx, seg); busy {
		t.Error("segmentBusy with only committed and quarantined items")
	}
	if its, err := q.segmentQuarantined(ctx, seg); err != nil || len(its) != 3 {
		t.Errorf("segmentQuarantined = %d items, %v; want 3", len(its), err)
	}
	if needed, _ := q.segmentNeeded(ctx, seg); !needed {
		t.Error("segmentNeeded false with quarantined items not discarded")
	}
	if _, err := q.db.ExecContext(ctx, `UPDATE items SET reason = ? || 'by op' WHERE state = ?`, discardedPrefix, StateQuarantined); err != nil {
		t.Fatal(err)
	}
	if needed, _ := q.segmentNeeded(ctx, seg); needed {
		t.Error("segmentNeeded true with every item committed or discarded")
	}
	// The quarantined items may also be found by state (items_claim):
	// both leave the committed history out.
	for name, q2 := range map[string]struct {
		query string
		uses  []string
	}{
		"busy":        {segmentBusyQuery, []string{"items_open_source"}},
		"needed":      {segmentNeededQuery, []string{"items_open_source"}},
		"quarantined": {`SELECT id FROM items WHERE ` + segmentQuarantinedCond, []string{"items_open_source", "items_claim (state=?)"}},
	} {
		query := q2.query
		args := []any{lo, hi, StateQuarantined}
		if name == "needed" {
			args = append(args, discardedPrefix+"%")
		}
		rows, err := q.db.QueryContext(ctx, `EXPLAIN QUERY PLAN `+query, args...)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		p := strings.Join(plan, "; ")
		ok := false
		for _, u := range q2.uses {
			ok = ok || strings.Contains(p, "USING INDEX "+u)
		}
		if !ok {
			t.Errorf("%s query plan %q uses none of %q", name, plan, q2.uses)
		}
	}
}
