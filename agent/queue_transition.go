package agent

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// transition runs one UPDATE, a transaction of its own, on item id if it is
// in one of the from states and leased by this process. set is the SET
// clause after state and updated_at; release clears the lease.
func (q *Queue) transition(ctx context.Context, op string, id int64, from []State, to State, release bool, set string, args ...any) error {
	return q.transitionOn(ctx, q.db, op, id, from, to, release, set, args...)
}

// transitionOn is transition on one of the queue's pools: q.db commits
// with an fsync (synchronous=FULL), q.fast without (NORMAL); see
// agent/doc.go for which transitions may use q.fast.
func (q *Queue) transitionOn(ctx context.Context, db *sql.DB, op string, id int64, from []State, to State, release bool, set string, args ...any) error {
	now := time.Now().UnixNano()
	clause := "state = ?, updated_at = ?"
	all := []any{to, now}
	if release {
		clause += ", lease_owner = '', leased_at = 0"
	}
	if set != "" {
		clause += ", " + set
	}
	all = append(all, args...)
	all = append(all, id, q.owner)
	ph := strings.TrimSuffix(strings.Repeat("?, ", len(from)), ", ")
	for _, s := range from {
		all = append(all, s)
	}
	st, err := q.stmt(ctx, db, `UPDATE items SET `+clause+` WHERE id = ? AND lease_owner = ? AND state IN (`+ph+`)`)
	if err != nil {
		return fmt.Errorf("agent: queue %s %d: %w", op, id, err)
	}
	res, err := st.ExecContext(ctx, all...)
	if err != nil {
		return fmt.Errorf("agent: queue %s %d: %w", op, id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("agent: queue %s %d: %w", op, id, err)
	}
	if n == 0 {
		if _, err := q.Get(ctx, id); errors.Is(err, ErrNotFound) {
			return fmt.Errorf("agent: queue %s %d: %w", op, id, ErrNotFound)
		}
		return fmt.Errorf("agent: queue %s %d: %w", op, id, ErrStateConflict)
	}
	if release {
		q.signal()
	}
	return nil
}

// ProcessResult is what a [Processor] reports about the sealed file it
// wrote.
type ProcessResult struct {
	// FileID is the sealed file's id (as named in its manifest).
	FileID string
	// StudyUID is the pseudonymous Study Instance UID; it groups the item
	// into a study.
	StudyUID string
	// Manifest is the signed manifest.
	Manifest []byte
	// Size is the sealed file's size in bytes.
	Size int64
	// SHA256 is the SHA-256 of the sealed file.
	SHA256 []byte
}

// MarkAnonymised records res for a claimed item in state seen (or
// anonymised, when processing is redone) and moves it to anonymised. The
// item joins the study res.StudyUID. The lease is kept.
func (q *Queue) MarkAnonymised(ctx context.Context, id int64, res *ProcessResult) error {
	return q.transition(ctx, "mark anonymised", id, []State{StateSeen, StateAnonymised}, StateAnonymised, false,
		`file_id = ?, study_key = ?, study_joined_at = CASE WHEN study_key = ? THEN study_joined_at ELSE ? END,
		 size = ?, sha256 = ?, manifest = ?, reason = ''`,
		res.FileID, res.StudyUID, res.StudyUID, time.Now().UnixNano(), res.Size, res.SHA256, res.Manifest)
}

// MarkSealed records the durable spool file of a claimed anonymised item,
// moves it to sealed, resets its attempts and releases it.
func (q *Queue) MarkSealed(ctx context.Context, id int64, spoolPath string) error {
	return q.transition(ctx, "mark sealed", id, []State{StateAnonymised}, StateSealed, true,
		`spool_path = ?, attempts = 0, next_attempt_at = 0`, spoolPath)
}

// MarkSent records the relay's receipt for a claimed sealed item and moves
// it to sent. The lease is kept.
func (q *Queue) MarkSent(ctx context.Context, id int64, receipt []byte) error {
	return q.transition(ctx, "mark sent", id, []State{StateSealed}, StateSent, false,
		`receipt = ?, reason = ''`, receipt)
}

// MarkCommitted moves a claimed sent item to committed and releases it.
// The manifest, needed only to upload, is dropped (committed is final):
// the queue keeps a few hundred bytes per file it ever took, not kilobytes.
// It commits without an fsync: lost on a power cut, the item is back in
// sent (durable) and is finished again, which changes nothing.
func (q *Queue) MarkCommitted(ctx context.Context, id int64) error {
	return q.transitionOn(ctx, q.fast, "mark committed", id, []State{StateSent}, StateCommitted, true,
		`spool_path = '', next_attempt_at = 0, manifest = NULL`)
}

// MarkProcessed is [Queue.MarkAnonymised] and [Queue.MarkSealed] in one
// transaction, for a claimed item in state seen or anonymised whose
// sealed file is already durable at spoolPath: it records res, joins the
// study, moves the item to sealed, resets its attempts and releases it.
// It commits with an fsync: the item is uploaded next, and once the relay
// holds its bytes it must never be sealed again (new bytes, same file id).
func (q *Queue) MarkProcessed(ctx context.Context, id int64, res *ProcessResult, spoolPath string) error {
	return q.markProcessed(ctx, q.db, id, res, spoolPath)
}

// MarkProcessedInMemory is [Queue.MarkProcessed] for a sealed file held in
// memory (no spool path). It commits without an fsync: rolled back by a
// power cut, the item is processed again, as it is when the process dies
// with the file in memory.
func (q *Queue) MarkProcessedInMemory(ctx context.Context, id int64, res *ProcessResult) error {
	return q.markProcessed(ctx, q.fast, id, res, "")
}

func (q *Queue) markProcessed(ctx context.Context, db *sql.DB, id int64, res *ProcessResult, spoolPath string) error {
	return q.transitionOn(ctx, db, "mark processed", id, []State{StateSeen, StateAnonymised}, StateSealed, true,
		`file_id = ?, study_key = ?, study_joined_at = CASE WHEN study_key = ? THEN study_joined_at ELSE ? END,
		 size = ?, sha256 = ?, manifest = ?, reason = '', spool_path = ?, attempts = 0, next_attempt_at = 0`,
		res.FileID, res.StudyUID, res.StudyUID, time.Now().UnixNano(), res.Size, res.SHA256, res.Manifest, spoolPath)
}

// MarkSentCommitted is [Queue.MarkSent] and [Queue.MarkCommitted] in one
// transaction (with an fsync), for a claimed sealed item whose source is
// kept (nothing to dispose of): it records the receipt, moves the item to
// committed and releases it, dropping its manifest as MarkCommitted does.
// Remove the spool file after it.
func (q *Queue) MarkSentCommitted(ctx context.Context, id int64, receipt []byte) error {
	return q.markSentCommitted(ctx, q.db, id, receipt)
}

// MarkSentCommittedInMemory is [Queue.MarkSentCommitted] for an item whose
// sealed file was uploaded from memory. It commits without an fsync:
// rolled back by a power cut, the item is back in sealed with no sealed
// file, so it is processed and sent again, and the relay answers with the
// receipt of the copy it holds (the same anonymised file).
func (q *Queue) MarkSentCommittedInMemory(ctx context.Context, id int64, receipt []byte) error {
	return q.markSentCommitted(ctx, q.fast, id, receipt)
}

func (q *Queue) markSentCommitted(ctx context.Context, db *sql.DB, id int64, receipt []byte) error {
	return q.transitionOn(ctx, db, "mark sent and committed", id, []State{StateSealed}, StateCommitted, true,
		`receipt = ?, reason = '', spool_path = '', next_attempt_at = 0, manifest = NULL`, receipt)
}

// SetSpoolPath records the durable spool file of a sealed item whose
// sealed file was held in memory until now (its upload failed, or the
// agent stops), if the item is still sealed with no spool file and leased
// by this process or by none. The state and the lease stay as they are.
func (q *Queue) SetSpoolPath(ctx context.Context, id int64, spoolPath string) error {
	st, err := q.stmt(ctx, q.db, `UPDATE items SET spool_path = ?, updated_at = ?
		WHERE id = ? AND state = ? AND spool_path = '' AND lease_owner IN ('', ?)`)
	if err != nil {
		return fmt.Errorf("agent: queue set spool path %d: %w", id, err)
	}
	res, err := st.ExecContext(ctx, spoolPath, time.Now().UnixNano(), id, StateSealed, q.owner)
	if err != nil {
		return fmt.Errorf("agent: queue set spool path %d: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return fmt.Errorf("agent: queue set spool path %d: %w", id, ErrStateConflict)
	}
	return nil
}

// Quarantine moves a claimed item that is not final to quarantined with
// reason, which must not contain PHI, and releases it.
func (q *Queue) Quarantine(ctx context.Context, id int64, reason string) error {
	return q.transition(ctx, "quarantine", id, pending(), StateQuarantined, true,
		`reason = ?, spool_path = '', next_attempt_at = 0`, reason)
}

// Retry releases a claimed item in its current state, counts a failed
// attempt and makes it claimable again at at. reason (no PHI) is kept as
// the last error.
func (q *Queue) Retry(ctx context.Context, id int64, at time.Time, reason string) error {
	return q.keepState(ctx, "retry", id, `attempts = attempts + 1, next_attempt_at = ?, reason = ?`, at.UnixNano(), reason)
}

// Release releases a claimed item in its current state without counting an
// attempt, as on shutdown.
func (q *Queue) Release(ctx context.Context, id int64) error {
	return q.keepState(ctx, "release", id, "")
}

// keepState is a transition that leaves the state as it is and releases the
// lease.
func (q *Queue) keepState(ctx context.Context, op string, id int64, set string, args ...any) error {
	it, err := q.Get(ctx, id)
	if err != nil {
		return err
	}
	if it.State.Final() {
		return fmt.Errorf("agent: queue %s %d: %w", op, id, ErrStateConflict)
	}
	return q.transition(ctx, op, id, []State{it.State}, it.State, true, set, args...)
}

// pending lists the states that are not final.
func pending() []State {
	return []State{StateSeen, StateAnonymised, StateSealed, StateSent}
}

// Reprocess sends a claimed sealed item back to seen, releasing it, for
// when its spool file is lost: it will be anonymised and sealed again.
func (q *Queue) Reprocess(ctx context.Context, id int64, reason string) error {
	return q.transition(ctx, "reprocess", id, []State{StateSealed}, StateSeen, true,
		`spool_path = '', reason = ?`, reason)
}
