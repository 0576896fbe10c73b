package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// SQLiteAudit is the embedded [AuditStore]: three tables (audit_entries,
// audit_hashes, audit_checkpoints) in the same SQLite file as [SQLite],
// versioned on their own migration track. Get one from an open metadata
// database with [SQLite.Audit], or open the file directly with
// [OpenSQLiteAudit].
//
// Appends run in one immediate transaction, which SQLite serialises across
// connections and processes; the primary keys on the entry index and the
// hash id are the backstop that makes a duplicate index impossible
// whatever the isolation level (PostgreSQL's READ COMMITTED included).
type SQLiteAudit struct {
	db    *stmtDB
	owned *SQLite // closed by Close when the audit store opened it
}

// auditAppendAttempts bounds AppendAudit's retries after losing the race
// for an index.
const auditAppendAttempts = 16

// auditQueryLimit is QueryAudit's default page size.
const auditQueryLimit = 1000

// sqlParamChunk bounds the number of placeholders in one IN (...).
const sqlParamChunk = 500

// Audit returns the audit store in s's database file, sharing s's
// connections, after bringing the audit schema up to date. Closing the
// returned store does nothing; close s.
func (s *SQLite) Audit(ctx context.Context) (*SQLiteAudit, error) {
	a := &SQLiteAudit{db: s.db}
	if err := a.migrateAudit(ctx); err != nil {
		return nil, err
	}
	return a, nil
}

// OpenSQLiteAudit opens (creating if needed) the database file at path,
// as [OpenSQLite] does, and returns its audit store, which owns the
// connections: Close closes them.
func OpenSQLiteAudit(ctx context.Context, path string) (*SQLiteAudit, error) {
	s, err := OpenSQLite(ctx, path)
	if err != nil {
		return nil, err
	}
	a, err := s.Audit(ctx)
	if err != nil {
		s.Close()
		return nil, err
	}
	a.owned = s
	return a, nil
}

// Close closes the database if [OpenSQLiteAudit] opened it.
func (a *SQLiteAudit) Close() error {
	if a.owned == nil {
		return nil
	}
	return a.owned.Close()
}

// AppendAudit implements [AuditStore].
func (a *SQLiteAudit) AppendAudit(ctx context.Context, build AuditBuildFunc) (*AuditEntry, error) {
	for range auditAppendAttempts {
		e, err := a.appendOnce(ctx, build)
		if isUniqueViolation(err) {
			continue // another appender took the index: retry with the next one
		}
		if err != nil {
			return nil, fmt.Errorf("store: append audit: %w", err)
		}
		return e, nil
	}
	return nil, fmt.Errorf("store: append audit: %w: index or hash still taken after %d attempts", ErrConflict, auditAppendAttempts)
}

// appendOnce is one attempt of AppendAudit, in one transaction. A unique
// violation is returned unwrapped-compatible so that the caller retries.
func (a *SQLiteAudit) appendOnce(ctx context.Context, build AuditBuildFunc) (*AuditEntry, error) {
	tx, err := a.db.beginTx(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	var next int64
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(idx) + 1, 0) FROM audit_entries`).Scan(&next); err != nil {
		return nil, err
	}
	app, err := build(next, func(ids []int64) ([][]byte, error) { return readAuditHashes(ctx, tx, ids) })
	if err != nil {
		return nil, err
	}
	e := app.Entry
	if e.Index != next || e.Actor == "" || e.Action == "" || len(e.Data) == 0 {
		return nil, fmt.Errorf("%w: entry needs index %d, actor, action and data", ErrInvalidRecord, next)
	}
	e.Time = time.UnixMicro(nowOr(e.Time).UnixMicro()).UTC()
	if _, err := tx.ExecContext(ctx, `INSERT INTO audit_entries
		(idx, time, actor, action, project, study, data) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		e.Index, e.Time.UnixMicro(), e.Actor, e.Action, e.Project, e.Study, e.Data); err != nil {
		return nil, err
	}
	for i, h := range app.Hashes {
		if _, err := tx.ExecContext(ctx, `INSERT INTO audit_hashes (id, hash) VALUES (?, ?)`,
			app.HashStart+int64(i), h); err != nil {
			return nil, err
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	return &e, nil
}

// sqlQuerier is what *sql.DB and *sql.Tx have in common for reads.
type sqlQuerier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// readAuditHashes reads stored hashes by id through q, in the order asked.
func readAuditHashes(ctx context.Context, q sqlQuerier, ids []int64) ([][]byte, error) {
	found := make(map[int64][]byte, len(ids))
	for start := 0; start < len(ids); start += sqlParamChunk {
		chunk := ids[start:min(start+sqlParamChunk, len(ids))]
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		rows, err := q.QueryContext(ctx, `SELECT id, hash FROM audit_hashes WHERE id IN (`+
			strings.TrimSuffix(strings.Repeat("?,", len(chunk)), ",")+`)`, args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var id int64
			var h []byte
			if err := rows.Scan(&id, &h); err != nil {
				rows.Close()
				return nil, err
			}
			found[id] = h
		}
		if err := rows.Close(); err != nil {
			return nil, err
		}
	}
	out := make([][]byte, len(ids))
	for i, id := range ids {
		h, ok := found[id]
		if !ok {
			return nil, fmt.Errorf("audit hash %d: %w", id, ErrNotExist)
		}
		out[i] = h
	}
	return out, nil
}

// ReadAuditHashes implements [AuditStore].
func (a *SQLiteAudit) ReadAuditHashes(ctx context.Context, ids []int64) ([][]byte, error) {
	hs, err := readAuditHashes(ctx, a.db, ids)
	if err != nil {
		return nil, fmt.Errorf("store: read audit hashes: %w", err)
	}
	return hs, nil
}

// AuditHashRange implements [AuditStore].
func (a *SQLiteAudit) AuditHashRange(ctx context.Context, from, to int64) ([]AuditHash, error) {
	rows, err := a.db.QueryContext(ctx, `SELECT id, hash FROM audit_hashes WHERE id >= ? AND id < ? ORDER BY id`, from, to)
	if err != nil {
		return nil, fmt.Errorf("store: audit hash range: %w", err)
	}
	defer rows.Close()
	var hs []AuditHash
	for rows.Next() {
		var h AuditHash
		if err := rows.Scan(&h.ID, &h.Hash); err != nil {
			return nil, fmt.Errorf("store: audit hash range: %w", err)
		}
		hs = append(hs, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: audit hash range: %w", err)
	}
	return hs, nil
}

// AuditSize implements [AuditStore].
func (a *SQLiteAudit) AuditSize(ctx context.Context) (int64, error) {
	var n int64
	if err := a.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(idx) + 1, 0) FROM audit_entries`).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: audit size: %w", err)
	}
	return n, nil
}

// auditColumns lists the audit_entries columns in scanAuditEntries' order.
const auditColumns = `idx, time, actor, action, project, study, data`

// ReadAudit implements [AuditStore].
func (a *SQLiteAudit) ReadAudit(ctx context.Context, from, to int64) ([]AuditEntry, error) {
	rows, err := a.db.QueryContext(ctx, `SELECT `+auditColumns+` FROM audit_entries
		WHERE idx >= ? AND idx < ? ORDER BY idx`, from, to)
	if err != nil {
		return nil, fmt.Errorf("store: read audit: %w", err)
	}
	es, err := scanAuditEntries(rows)
	if err != nil {
		return nil, fmt.Errorf("store: read audit: %w", err)
	}
	return es, nil
}

// QueryAudit implements [AuditStore].
func (a *SQLiteAudit) QueryAudit(ctx context.Context, f AuditFilter, after int64, limit int) ([]AuditEntry, error) {
	if limit <= 0 {
		limit = auditQueryLimit
	}
	where := []string{"idx > ?"}
	args := []any{after}
	add := func(cond string, v any) {
		where = append(where, cond)
		args = append(args, v)
	}
	if !f.Since.IsZero() {
		add("time >= ?", f.Since.UnixMicro())
	}
	if !f.Until.IsZero() {
		add("time < ?", f.Until.UnixMicro())
	}
	for _, c := range []struct{ col, v string }{
		{"actor", f.Actor}, {"action", f.Action}, {"project", f.Project}, {"study", f.Study},
	} {
		if c.v != "" {
			add(c.col+" = ?", c.v)
		}
	}
	args = append(args, limit)
	rows, err := a.db.QueryContext(ctx, `SELECT `+auditColumns+` FROM audit_entries WHERE `+
		strings.Join(where, " AND ")+` ORDER BY idx LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("store: query audit: %w", err)
	}
	es, err := scanAuditEntries(rows)
	if err != nil {
		return nil, fmt.Errorf("store: query audit: %w", err)
	}
	return es, nil
}

// scanAuditEntries reads and closes rows of auditColumns.
func scanAuditEntries(rows *sql.Rows) ([]AuditEntry, error) {
	defer rows.Close()
	var es []AuditEntry
	for rows.Next() {
		var e AuditEntry
		var t sql.NullInt64
		if err := rows.Scan(&e.Index, &t, &e.Actor, &e.Action, &e.Project, &e.Study, &e.Data); err != nil {
			return nil, err
		}
		e.Time = fromMicro(t)
		es = append(es, e)
	}
	return es, rows.Err()
}

// PutAuditCheckpoint implements [AuditStore].
func (a *SQLiteAudit) PutAuditCheckpoint(ctx context.Context, c AuditCheckpoint) (int64, error) {
	if c.Size < 0 || len(c.Note) == 0 {
		return 0, fmt.Errorf("store: put audit checkpoint: %w: size >= 0 and note are required", ErrInvalidRecord)
	}
	var id int64
	err := a.db.QueryRowContext(ctx, `INSERT INTO audit_checkpoints (size, note, created_at)
		VALUES (?, ?, ?) RETURNING id`, c.Size, string(c.Note), nowOr(c.CreatedAt).UnixMicro()).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("store: put audit checkpoint: %w", err)
	}
	return id, nil
}

// auditCheckpointColumns lists the audit_checkpoints columns in
// scanAuditCheckpoint's order.
const auditCheckpointColumns = `id, size, note, created_at`

// scanAuditCheckpoint reads one row of auditCheckpointColumns.
func scanAuditCheckpoint(row scanner) (*AuditCheckpoint, error) {
	var c AuditCheckpoint
	var note string
	var at sql.NullInt64
	if err := row.Scan(&c.ID, &c.Size, &note, &at); err != nil {
		return nil, err
	}
	c.Note, c.CreatedAt = []byte(note), fromMicro(at)
	return &c, nil
}

// AuditCheckpoints implements [AuditStore].
func (a *SQLiteAudit) AuditCheckpoints(ctx context.Context) ([]AuditCheckpoint, error) {
	rows, err := a.db.QueryContext(ctx, `SELECT `+auditCheckpointColumns+` FROM audit_checkpoints ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("store: audit checkpoints: %w", err)
	}
	defer rows.Close()
	var cs []AuditCheckpoint
	for rows.Next() {
		c, err := scanAuditCheckpoint(rows)
		if err != nil {
			return nil, fmt.Errorf("store: audit checkpoints: %w", err)
		}
		cs = append(cs, *c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: audit checkpoints: %w", err)
	}
	return cs, nil
}

// LatestAuditCheckpoint implements [AuditStore].
func (a *SQLiteAudit) LatestAuditCheckpoint(ctx context.Context) (*AuditCheckpoint, error) {
	c, err := scanAuditCheckpoint(a.db.QueryRowContext(ctx, `SELECT `+auditCheckpointColumns+`
		FROM audit_checkpoints ORDER BY size DESC, id DESC LIMIT 1`))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: latest audit checkpoint: %w", ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("store: latest audit checkpoint: %w", err)
	}
	return c, nil
}

var _ AuditStore = (*SQLiteAudit)(nil)
