package agent

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// journalCursor is the queue cursor holding the highest sequence number
// of the SCP's intake journal whose instances are durable as received
// files and queue items (see [intakeJournal]).
const journalCursor = "scp_journal"

// addReceived queues a received instance like [Queue.Add], but commits
// without an fsync (synchronous=NORMAL): the instance is already durable
// in the intake journal, and the SCP's next checkpoint makes the item
// durable with a synchronous commit of [journalCursor].
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
