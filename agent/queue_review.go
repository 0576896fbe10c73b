package agent

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Quarantine review: the agent reports quarantined items to the relay
// (table quarantine_reported holds those reported) and applies the
// relay's decisions, read after a durable cursor (table cursors).

// discardedPrefix starts the reason of a discarded item.
const discardedPrefix = "discarded by "

// commandsCursor names the cursor of the relay's quarantine decisions.
const commandsCursor = "relay_commands"

// Discarded reports whether a quarantined item was discarded by a user.
func (it *Item) Discarded() bool {
	return it.State == StateQuarantined && strings.HasPrefix(it.Reason, discardedPrefix)
}

// Unreported returns up to limit quarantined items not yet reported to
// the relay, oldest first.
func (q *Queue) Unreported(ctx context.Context, limit int) ([]*Item, error) {
	rows, err := q.db.QueryContext(ctx, `SELECT `+itemColumns+` FROM items
		WHERE state = ? AND id NOT IN (SELECT item_id FROM quarantine_reported)
		ORDER BY id LIMIT ?`, StateQuarantined, limit)
	if err != nil {
		return nil, fmt.Errorf("agent: queue unreported: %w", err)
	}
	defer rows.Close()
	var items []*Item
	for rows.Next() {
		it, err := scanItem(rows)
		if err != nil {
			return nil, fmt.Errorf("agent: queue unreported: %w", err)
		}
		items = append(items, it)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("agent: queue unreported: %w", err)
	}
	return items, nil
}

// MarkReported records that the relay has the reports of items ids.
func (q *Queue) MarkReported(ctx context.Context, ids ...int64) error {
	tx, err := q.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("agent: queue mark reported: %w", err)
	}
	defer tx.Rollback()
	for _, id := range ids {
		if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO quarantine_reported (item_id) VALUES (?)`, id); err != nil {
			return fmt.Errorf("agent: queue mark reported: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("agent: queue mark reported: %w", err)
	}
	return nil
}

// Requeue sends an unleased quarantined item, not discarded, back to
// seen with its attempts reset, so that it is processed again (e.g. after
// the policy was fixed); a later quarantine is reported again. An item in
// another state, leased or discarded is [ErrStateConflict].
func (q *Queue) Requeue(ctx context.Context, id int64) error {
	err := q.review(ctx, "requeue", id, func(tx *sql.Tx) (sql.Result, error) {
		return tx.ExecContext(ctx, `UPDATE items SET state = ?, attempts = 0, next_attempt_at = 0, reason = '',
			spool_path = '', updated_at = ? WHERE id = ? AND state = ? AND lease_owner = '' AND reason NOT LIKE ?`,
			StateSeen, time.Now().UnixNano(), id, StateQuarantined, discardedPrefix+"%")
	})
	if err == nil {
		q.signal()
	}
	return err
}

// Discard marks a quarantined item as given up by user: it stays
// quarantined, with the reason "discarded by <user>", and is never
// reported or requeued again. It returns the item (its source is the
// caller's to delete). Discarding a discarded item changes nothing.
func (q *Queue) Discard(ctx context.Context, id int64, user string) (*Item, error) {
	err := q.review(ctx, "discard", id, func(tx *sql.Tx) (sql.Result, error) {
		return tx.ExecContext(ctx, `UPDATE items SET reason = ?, updated_at = ?
			WHERE id = ? AND state = ? AND lease_owner = ''`,
			discardedPrefix+user, time.Now().UnixNano(), id, StateQuarantined)
	})
	if err != nil {
		return nil, err
	}
	return q.Get(ctx, id)
}

// review runs update on item id with its reported flag in one
// transaction: requeue clears the flag, discard sets it.
func (q *Queue) review(ctx context.Context, op string, id int64, update func(*sql.Tx) (sql.Result, error)) error {
	tx, err := q.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("agent: queue %s %d: %w", op, id, err)
	}
	defer tx.Rollback()
	res, err := update(tx)
	if err != nil {
		return fmt.Errorf("agent: queue %s %d: %w", op, id, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		if _, gerr := q.Get(ctx, id); errors.Is(gerr, ErrNotFound) {
			return fmt.Errorf("agent: queue %s %d: %w", op, id, ErrNotFound)
		}
		return fmt.Errorf("agent: queue %s %d: %w", op, id, ErrStateConflict)
	}
	flag := `DELETE FROM quarantine_reported WHERE item_id = ?`
	if op == "discard" {
		flag = `INSERT OR IGNORE INTO quarantine_reported (item_id) VALUES (?)`
	}
	if _, err := tx.ExecContext(ctx, flag, id); err != nil {
		return fmt.Errorf("agent: queue %s %d: %w", op, id, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("agent: queue %s %d: %w", op, id, err)
	}
	return nil
}

// Cursor returns the value of the named cursor, or def when never set.
func (q *Queue) Cursor(ctx context.Context, name string, def int64) (int64, error) {
	var v int64
	err := q.db.QueryRowContext(ctx, `SELECT value FROM cursors WHERE name = ?`, name).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return def, nil
	}
	if err != nil {
		return 0, fmt.Errorf("agent: queue cursor: %w", err)
	}
	return v, nil
}

// SetCursor sets the named cursor durably.
func (q *Queue) SetCursor(ctx context.Context, name string, v int64) error {
	if _, err := q.db.ExecContext(ctx, `INSERT INTO cursors (name, value) VALUES (?, ?)
		ON CONFLICT (name) DO UPDATE SET value = excluded.value`, name, v); err != nil {
		return fmt.Errorf("agent: queue set cursor: %w", err)
	}
	return nil
}
