package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// PostgresAudit is the [AuditStore] in a PostgreSQL database: the tables
// of [SQLiteAudit] (audit_entries, audit_hashes, audit_checkpoints) on
// their own migration track. Get it from an open [Postgres] with
// [Postgres.Audit].
//
// Every append takes a transaction-scoped advisory lock first, so appends
// from all relays sharing the database queue one behind the other and each
// reads the index its predecessor committed: the log never forks. The
// primary keys on the entry index and the hash id remain the backstop (a
// writer that bypassed the lock would get a unique violation and retry).
type PostgresAudit struct {
	pool *pgxpool.Pool
}

// Audit returns the audit store in p's database, sharing p's connections,
// after bringing the audit schema up to date. Close p, not the audit store.
func (p *Postgres) Audit(ctx context.Context) (*PostgresAudit, error) {
	if err := p.migrate(ctx, "audit_schema_migrations", pgAuditMigrations()); err != nil {
		return nil, err
	}
	return &PostgresAudit{pool: p.pool}, nil
}

// OpenAudit is [Postgres.Audit] returning the interface, for callers that
// accept any back end.
func (p *Postgres) OpenAudit(ctx context.Context) (AuditStore, error) {
	a, err := p.Audit(ctx)
	if err != nil {
		return nil, err
	}
	return a, nil
}

// AppendAudit implements [AuditStore].
func (a *PostgresAudit) AppendAudit(ctx context.Context, build AuditBuildFunc) (*AuditEntry, error) {
	for range auditAppendAttempts {
		e, err := a.appendOnce(ctx, build)
		if isPGUniqueViolation(err) {
			continue // another appender took the index: retry with the next one
		}
		if err != nil {
			return nil, fmt.Errorf("store: append audit: %w", err)
		}
		return e, nil
	}
	return nil, fmt.Errorf("store: append audit: %w: index or hash still taken after %d attempts", ErrConflict, auditAppendAttempts)
}

// appendOnce is one attempt of AppendAudit, in one transaction that holds
// the audit advisory lock from before reading the next index until commit.
func (a *PostgresAudit) appendOnce(ctx context.Context, build AuditBuildFunc) (*AuditEntry, error) {
	tx, err := a.pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, pgLockAudit); err != nil {
		return nil, err
	}
	// READ COMMITTED takes a fresh snapshot per statement, so this sees
	// every append committed before the lock was granted.
	var next int64
	if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(idx) + 1, 0) FROM audit_entries`).Scan(&next); err != nil {
		return nil, err
	}
	app, err := build(next, func(ids []int64) ([][]byte, error) { return readPGAuditHashes(ctx, tx, ids) })
	if err != nil {
		return nil, err
	}
	e := app.Entry
	if e.Index != next || e.Actor == "" || e.Action == "" || len(e.Data) == 0 {
		return nil, fmt.Errorf("%w: entry needs index %d, actor, action and data", ErrInvalidRecord, next)
	}
	e.Time = *pgTime(nowOr(e.Time))
	batch := &pgx.Batch{}
	batch.Queue(`INSERT INTO audit_entries (idx, time, actor, action, project, study, data)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, e.Index, e.Time, e.Actor, e.Action, e.Project, e.Study, e.Data)
	for i, h := range app.Hashes {
		batch.Queue(`INSERT INTO audit_hashes (id, hash) VALUES ($1, $2)`, app.HashStart+int64(i), h)
	}
	if err := tx.SendBatch(ctx, batch).Close(); err != nil {
		return nil, err
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, err
	}
	return &e, nil
}

// pgQuerier is what *pgxpool.Pool and pgx.Tx have in common for reads.
type pgQuerier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// readPGAuditHashes reads stored hashes by id through q, in the order
// asked.
func readPGAuditHashes(ctx context.Context, q pgQuerier, ids []int64) ([][]byte, error) {
	found := make(map[int64][]byte, len(ids))
	rows, err := q.Query(ctx, `SELECT id, hash FROM audit_hashes WHERE id = ANY($1)`, ids)
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
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
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
func (a *PostgresAudit) ReadAuditHashes(ctx context.Context, ids []int64) ([][]byte, error) {
	hs, err := readPGAuditHashes(ctx, a.pool, ids)
	if err != nil {
		return nil, fmt.Errorf("store: read audit hashes: %w", err)
	}
	return hs, nil
}

// AuditHashRange implements [AuditStore].
func (a *PostgresAudit) AuditHashRange(ctx context.Context, from, to int64) ([]AuditHash, error) {
	rows, err := a.pool.Query(ctx, `SELECT id, hash FROM audit_hashes WHERE id >= $1 AND id < $2 ORDER BY id`, from, to)
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
func (a *PostgresAudit) AuditSize(ctx context.Context) (int64, error) {
	var n int64
	if err := a.pool.QueryRow(ctx, `SELECT COALESCE(MAX(idx) + 1, 0) FROM audit_entries`).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: audit size: %w", err)
	}
	return n, nil
}

// ReadAudit implements [AuditStore].
func (a *PostgresAudit) ReadAudit(ctx context.Context, from, to int64) ([]AuditEntry, error) {
	rows, err := a.pool.Query(ctx, `SELECT `+auditColumns+` FROM audit_entries
		WHERE idx >= $1 AND idx < $2 ORDER BY idx`, from, to)
	if err != nil {
		return nil, fmt.Errorf("store: read audit: %w", err)
	}
	es, err := scanPGAuditEntries(rows)
	if err != nil {
		return nil, fmt.Errorf("store: read audit: %w", err)
	}
	return es, nil
}

// QueryAudit implements [AuditStore].
func (a *PostgresAudit) QueryAudit(ctx context.Context, f AuditFilter, after int64, limit int) ([]AuditEntry, error) {
	if limit <= 0 {
		limit = auditQueryLimit
	}
	where := []string{"idx > $1"}
	args := []any{after}
	add := func(col, op string, v any) {
		args = append(args, v)
		where = append(where, col+" "+op+" $"+strconv.Itoa(len(args)))
	}
	if !f.Since.IsZero() {
		add("time", ">=", pgTime(f.Since))
	}
	if !f.Until.IsZero() {
		add("time", "<", pgTime(f.Until))
	}
	for _, c := range []struct{ col, v string }{
		{"actor", f.Actor}, {"action", f.Action}, {"project", f.Project}, {"study", f.Study},
	} {
		if c.v != "" {
			add(c.col, "=", c.v)
		}
	}
	args = append(args, limit)
	rows, err := a.pool.Query(ctx, `SELECT `+auditColumns+` FROM audit_entries WHERE `+
		strings.Join(where, " AND ")+` ORDER BY idx LIMIT $`+strconv.Itoa(len(args)), args...)
	if err != nil {
		return nil, fmt.Errorf("store: query audit: %w", err)
	}
	es, err := scanPGAuditEntries(rows)
	if err != nil {
		return nil, fmt.Errorf("store: query audit: %w", err)
	}
	return es, nil
}

// scanPGAuditEntries reads and closes rows of auditColumns.
func scanPGAuditEntries(rows pgx.Rows) ([]AuditEntry, error) {
	defer rows.Close()
	var es []AuditEntry
	for rows.Next() {
		var e AuditEntry
		var t *time.Time
		if err := rows.Scan(&e.Index, &t, &e.Actor, &e.Action, &e.Project, &e.Study, &e.Data); err != nil {
			return nil, err
		}
		e.Time = fromPGTime(t)
		es = append(es, e)
	}
	return es, rows.Err()
}

// PutAuditCheckpoint implements [AuditStore].
func (a *PostgresAudit) PutAuditCheckpoint(ctx context.Context, c AuditCheckpoint) (int64, error) {
	if c.Size < 0 || len(c.Note) == 0 {
		return 0, fmt.Errorf("store: put audit checkpoint: %w: size >= 0 and note are required", ErrInvalidRecord)
	}
	var id int64
	err := a.pool.QueryRow(ctx, `INSERT INTO audit_checkpoints (size, note, created_at)
		VALUES ($1, $2, $3) RETURNING id`, c.Size, string(c.Note), pgTime(nowOr(c.CreatedAt))).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("store: put audit checkpoint: %w", err)
	}
	return id, nil
}

// scanPGAuditCheckpoint reads one row of auditCheckpointColumns.
func scanPGAuditCheckpoint(row pgx.Row) (*AuditCheckpoint, error) {
	var c AuditCheckpoint
	var note string
	var at *time.Time
	if err := row.Scan(&c.ID, &c.Size, &note, &at); err != nil {
		return nil, err
	}
	c.Note, c.CreatedAt = []byte(note), fromPGTime(at)
	return &c, nil
}

// AuditCheckpoints implements [AuditStore].
func (a *PostgresAudit) AuditCheckpoints(ctx context.Context) ([]AuditCheckpoint, error) {
	rows, err := a.pool.Query(ctx, `SELECT `+auditCheckpointColumns+` FROM audit_checkpoints ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("store: audit checkpoints: %w", err)
	}
	defer rows.Close()
	var cs []AuditCheckpoint
	for rows.Next() {
		c, err := scanPGAuditCheckpoint(rows)
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
func (a *PostgresAudit) LatestAuditCheckpoint(ctx context.Context) (*AuditCheckpoint, error) {
	c, err := scanPGAuditCheckpoint(a.pool.QueryRow(ctx, `SELECT `+auditCheckpointColumns+`
		FROM audit_checkpoints ORDER BY size DESC, id DESC LIMIT 1`))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("store: latest audit checkpoint: %w", ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("store: latest audit checkpoint: %w", err)
	}
	return c, nil
}

var _ AuditStore = (*PostgresAudit)(nil)
