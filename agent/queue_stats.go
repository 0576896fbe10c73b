package agent

import (
	"context"
	"fmt"
	"time"
)

// Counts returns the number of items in each state; every state is present.
func (q *Queue) Counts(ctx context.Context) (map[State]int, error) {
	counts := make(map[State]int)
	for _, s := range States() {
		counts[s] = 0
	}
	rows, err := q.db.QueryContext(ctx, `SELECT state, COUNT(*) FROM items GROUP BY state`)
	if err != nil {
		return nil, fmt.Errorf("agent: queue counts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var s State
		var n int
		if err := rows.Scan(&s, &n); err != nil {
			return nil, fmt.Errorf("agent: queue counts: %w", err)
		}
		counts[s] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("agent: queue counts: %w", err)
	}
	return counts, nil
}

// Pending returns the number of items not in a final state, including
// items waiting for a retry.
func (q *Queue) Pending(ctx context.Context) (int, error) {
	var n int
	err := q.db.QueryRowContext(ctx,
		`SELECT COUNT(*) FROM items WHERE state NOT IN (?, ?)`, StateCommitted, StateQuarantined).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("agent: queue pending: %w", err)
	}
	return n, nil
}

// OldestWaiting returns how long the oldest item not in a final state has
// been queued, or 0 if there is none.
func (q *Queue) OldestWaiting(ctx context.Context) (time.Duration, error) {
	var oldest *int64
	err := q.db.QueryRowContext(ctx,
		`SELECT MIN(created_at) FROM items WHERE state NOT IN (?, ?)`, StateCommitted, StateQuarantined).Scan(&oldest)
	if err != nil {
		return 0, fmt.Errorf("agent: queue oldest: %w", err)
	}
	if oldest == nil {
		return 0, nil
	}
	return time.Since(time.Unix(0, *oldest)), nil
}

// Study is a group of instances sharing one pseudonymous Study Instance UID.
type Study struct {
	// Key is the pseudonymous Study Instance UID.
	Key string
	// Instances counts the study's items (any state from anonymised on).
	Instances int
	// Committed and Quarantined count the study's items in those states.
	Committed, Quarantined int
	// FirstSeen and LastSeen are when the first and the latest instance
	// joined the study.
	FirstSeen, LastSeen time.Time
	// Complete is true once no instance has joined for the idle period
	// given to [Queue.Studies]. A later instance reopens the study: it
	// keeps the same key and Complete becomes false until idle again.
	Complete bool
}

// Studies lists the studies, oldest first, with Complete computed for the
// time now and the idle period idle.
func (q *Queue) Studies(ctx context.Context, idle time.Duration, now time.Time) ([]Study, error) {
	rows, err := q.db.QueryContext(ctx, `
		SELECT study_key, COUNT(*), SUM(state = ?), SUM(state = ?), MIN(study_joined_at), MAX(study_joined_at)
		FROM items WHERE study_key != ''
		GROUP BY study_key ORDER BY MIN(study_joined_at), study_key`, StateCommitted, StateQuarantined)
	if err != nil {
		return nil, fmt.Errorf("agent: queue studies: %w", err)
	}
	defer rows.Close()
	var out []Study
	for rows.Next() {
		var s Study
		var first, last int64
		if err := rows.Scan(&s.Key, &s.Instances, &s.Committed, &s.Quarantined, &first, &last); err != nil {
			return nil, fmt.Errorf("agent: queue studies: %w", err)
		}
		s.FirstSeen, s.LastSeen = time.Unix(0, first), time.Unix(0, last)
		s.Complete = !now.Before(s.LastSeen.Add(idle))
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("agent: queue studies: %w", err)
	}
	return out, nil
}

// List returns up to limit items in state (all states if state is ""),
// by id. Items hold source paths: show them to local operators only.
func (q *Queue) List(ctx context.Context, state State, limit int) ([]*Item, error) {
	rows, err := q.db.QueryContext(ctx, `SELECT `+itemColumns+` FROM items
		WHERE ? = '' OR state = ? ORDER BY id LIMIT ?`, state, state, limit)
	if err != nil {
		return nil, fmt.Errorf("agent: queue list: %w", err)
	}
	defer rows.Close()
	var items []*Item
	for rows.Next() {
		it, err := scanItem(rows)
		if err != nil {
			return nil, fmt.Errorf("agent: queue list: %w", err)
		}
		items = append(items, it)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("agent: queue list: %w", err)
	}
	return items, nil
}
