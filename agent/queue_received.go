package agent

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
)

// journalCursor is the queue cursor holding the highest sequence number
// of the SCP's intake journal whose instances' items are durable in the
// queue (see [intakeJournal]).
const journalCursor = "scp_journal"

// addReceived queues a received instance like [Queue.Add], but commits
// without an fsync (synchronous=NORMAL): the instance is durable in the
// intake journal before its response, and the SCP's next checkpoint makes
// the item durable with a synchronous commit of [journalCursor].
func (q *Queue) addReceived(ctx context.Context, src Source) (int64, error) {
	id, _, err := q.add(ctx, q.fast, src)
	if err != nil {
		return 0, err
	}
	return id, nil
}

// itemBySource returns the newest item queued from path, or an error
// wrapping [ErrNotFound].
func (q *Queue) itemBySource(ctx context.Context, path string) (*Item, error) {
	it, err := scanItem(q.db.QueryRowContext(ctx, `SELECT `+itemColumns+` FROM items
		WHERE source_path = ? ORDER BY id DESC LIMIT 1`, path))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("agent: queue item by source: %w", ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("agent: queue item by source: %w", err)
	}
	return it, nil
}

// removeReceived deletes the item of a received instance that did not
// become durable, if it is still seen and unclaimed.
func (q *Queue) removeReceived(ctx context.Context, id int64) error {
	if _, err := q.db.ExecContext(ctx, `DELETE FROM items WHERE id = ? AND state = ? AND lease_owner = ''`,
		id, StateSeen); err != nil {
		return fmt.Errorf("agent: queue remove received: %w", err)
	}
	return nil
}

// openItem is the WHERE term of the items not committed, literally as
// the items_open_source index has it, so that SQLite uses that index.
const openItem = `state != '` + string(StateCommitted) + `'`

// The reclaim queries of one segment: its items are the sources in
// [lo, hi) (segmentRange).
const (
	segmentBusyQuery = `SELECT EXISTS (SELECT 1 FROM items
		WHERE source_path >= ? AND source_path < ? AND ` + openItem + ` AND state != ?)`
	segmentNeededQuery = `SELECT EXISTS (SELECT 1 FROM items
		WHERE source_path >= ? AND source_path < ? AND ` + openItem + `
		AND NOT (state = ? AND reason LIKE ?))`
	segmentQuarantinedCond = `source_path >= ? AND source_path < ? AND ` + openItem + ` AND state = ?`
)

// segmentBusy reports whether an item still to process (neither
// committed nor quarantined) has its source in the intake journal segment
// at segPath.
func (q *Queue) segmentBusy(ctx context.Context, segPath string) (bool, error) {
	lo, hi := segmentRange(segPath)
	var busy bool
	err := q.db.QueryRowContext(ctx, segmentBusyQuery, lo, hi, StateQuarantined).Scan(&busy)
	if err != nil {
		return false, fmt.Errorf("agent: queue segment items: %w", err)
	}
	return busy, nil
}

// segmentNeeded reports whether an item other than a committed or a
// discarded one has its source in the intake journal segment at segPath.
func (q *Queue) segmentNeeded(ctx context.Context, segPath string) (bool, error) {
	lo, hi := segmentRange(segPath)
	var needed bool
	err := q.db.QueryRowContext(ctx, segmentNeededQuery, lo, hi, StateQuarantined, discardedPrefix+"%").Scan(&needed)
	if err != nil {
		return false, fmt.Errorf("agent: queue segment items: %w", err)
	}
	return needed, nil
}

// segmentQuarantined returns the quarantined items whose source is a
// record of the intake journal segment at segPath.
func (q *Queue) segmentQuarantined(ctx context.Context, segPath string) ([]*Item, error) {
	lo, hi := segmentRange(segPath)
	return q.itemsWhere(ctx, segmentQuarantinedCond, lo, hi, StateQuarantined)
}

// journalItems returns the items in state whose source is a record of a
// segment of the intake journal in dir.
func (q *Queue) journalItems(ctx context.Context, dir string, state State) ([]*Item, error) {
	lo := filepath.Join(dir, segmentPrefix)
	hi := lo[:len(lo)-1] + string(rune(lo[len(lo)-1]+1))
	return q.itemsWhere(ctx, `source_path >= ? AND source_path < ? AND state = ?`, lo, hi, state)
}

// itemsWhere returns the items matching the condition cond.
func (q *Queue) itemsWhere(ctx context.Context, cond string, args ...any) ([]*Item, error) {
	rows, err := q.db.QueryContext(ctx, `SELECT `+itemColumns+` FROM items WHERE `+cond+` ORDER BY id`, args...)
	if err != nil {
		return nil, fmt.Errorf("agent: queue items: %w", err)
	}
	defer rows.Close()
	var out []*Item
	for rows.Next() {
		it, err := scanItem(rows)
		if err != nil {
			return nil, fmt.Errorf("agent: queue items: %w", err)
		}
		out = append(out, it)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("agent: queue items: %w", err)
	}
	return out, nil
}

// moveQuarantinedSource points the quarantined item id, whose source is
// old, at src (a copy of its instance), durably. It reports false, having
// changed nothing, if the item is no longer quarantined from old.
func (q *Queue) moveQuarantinedSource(ctx context.Context, id int64, old string, src Source) (bool, error) {
	res, err := q.db.ExecContext(ctx, `UPDATE items SET source_path = ?, source_size = ?, source_mtime = ?
		WHERE id = ? AND source_path = ? AND state = ? AND lease_owner = ''`,
		src.Path, src.Size, src.ModTime.UnixNano(), id, old, StateQuarantined)
	if err != nil {
		return false, fmt.Errorf("agent: queue move source: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("agent: queue move source: %w", err)
	}
	return n == 1, nil
}
