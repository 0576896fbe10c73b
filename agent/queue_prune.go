package agent

import (
	"context"
	"fmt"
	"os"
	"time"
)

// pruneCursor names the cursor of PruneCommitted: the last item id it
// looked at.
const pruneCursor = "prune_committed"

// PruneCommitted deletes the items committed before before whose source
// is gone or has changed since (moved or deleted after the commit, a C-STORE
// intake journal segment reused), looking at up to limit committed items
// from where the previous call stopped (it starts over after the last).
// An item whose source file is still in its place, unchanged, is kept: it
// is what stops a watched folder's rescan from taking that file again.
// It returns how many items it deleted, and whether it reached the last
// item.
func (q *Queue) PruneCommitted(ctx context.Context, before time.Time, limit int) (deleted int, end bool, err error) {
	from, err := q.Cursor(ctx, pruneCursor, 0)
	if err != nil {
		return 0, false, err
	}
	rows, err := q.db.QueryContext(ctx, `SELECT id, source_path, source_size, source_mtime FROM items
		WHERE id > ? AND state = ? AND updated_at < ? ORDER BY id LIMIT ?`,
		from, StateCommitted, before.UnixNano(), limit+1) // one more: is there more?
	if err != nil {
		return 0, false, fmt.Errorf("agent: queue prune: %w", err)
	}
	type candidate struct {
		id          int64
		path        string
		size, mtime int64
	}
	var cands []candidate
	for rows.Next() {
		var c candidate
		if err := rows.Scan(&c.id, &c.path, &c.size, &c.mtime); err != nil {
			rows.Close()
			return 0, false, fmt.Errorf("agent: queue prune: %w", err)
		}
		cands = append(cands, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, false, fmt.Errorf("agent: queue prune: %w", err)
	}
	more := len(cands) > limit
	cands = cands[:min(len(cands), limit)]
	var gone []int64
	for _, c := range cands {
		fi, err := os.Stat(c.path)
		if err == nil && fi.Mode().IsRegular() && fi.Size() == c.size && fi.ModTime().UnixNano() == c.mtime {
			continue // still there: the item keeps the folder from taking it again
		}
		if err != nil && !os.IsNotExist(err) {
			continue // cannot tell (permissions, a disk away): kept
		}
		gone = append(gone, c.id)
	}
	deleted, err = q.deleteCommitted(ctx, gone)
	if err != nil {
		return deleted, false, err
	}
	next := int64(0) // past the last item: start over next time
	if more {
		next = cands[len(cands)-1].id
	}
	return deleted, next == 0, q.SetCursor(ctx, pruneCursor, next)
}

// deleteCommitted deletes the committed items of ids in one transaction.
func (q *Queue) deleteCommitted(ctx context.Context, ids []int64) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	tx, err := q.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("agent: queue prune: %w", err)
	}
	defer tx.Rollback()
	n := 0
	for _, id := range ids {
		res, err := tx.ExecContext(ctx, `DELETE FROM items WHERE id = ? AND state = ?`, id, StateCommitted)
		if err != nil {
			return 0, fmt.Errorf("agent: queue prune: %w", err)
		}
		k, _ := res.RowsAffected()
		n += int(k)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("agent: queue prune: %w", err)
	}
	return n, nil
}

// pruneBatch is how many committed items one PruneCommitted call looks at.
const pruneBatch = 5000

// pruneEvery is how often the agent prunes its queue.
const pruneEvery = time.Hour

// pruneQueue runs PruneCommitted over the whole queue now and every
// pruneEvery until ctx ends (keep_committed; a negative one keeps every
// item).
func (a *Agent) pruneQueue(ctx context.Context, q *Queue) {
	keep := a.cfg.KeepCommitted
	if keep < 0 {
		return
	}
	t := time.NewTicker(pruneEvery)
	defer t.Stop()
	for {
		total := 0
		for ctx.Err() == nil {
			n, end, err := q.PruneCommitted(ctx, time.Now().Add(-keep), pruneBatch)
			total += n
			if err != nil {
				if ctx.Err() == nil {
					a.log.Warn().Err(err).Msg("queue prune failed")
				}
				break
			}
			if end {
				break
			}
		}
		if total > 0 {
			a.log.Info().Int("items", total).Dur("keep_committed", keep).
				Msg("pruned committed queue items whose source is gone, older than keep_committed")
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
