package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Postgres is the [MetaDB] for relays that scale out: several relays share
// one PostgreSQL database, driven by pgx through a connection pool. Times
// are stored as TIMESTAMPTZ (microsecond precision, like [SQLite]'s
// integer microseconds). Its audit log, [PostgresAudit], and its account
// store, [PostgresAccounts], live in the same database: see
// [Postgres.Audit] and [Postgres.Accounts].
//
// Invariants rest on the database, never on one process: unique
// constraints decide concurrent commits, one conditional UPDATE redeems a
// token, and audit appends are serialised by a transaction-scoped advisory
// lock. Schema migrations take another advisory lock, so relays starting
// together apply each migration exactly once.
type Postgres struct {
	pool *pgxpool.Pool
}

// Advisory lock keys (pg_advisory_xact_lock), arbitrary but fixed: every
// relay sharing a database must use the same ones.
const (
	pgLockMigrate int64 = 0x64636d6701 // "dcmg" 1: schema migrations
	pgLockAudit   int64 = 0x64636d6702 // "dcmg" 2: audit appends
	pgLockPolicy  int64 = 0x64636d6703 // "dcmg" 3: policy registry writes
)

// OpenPostgres connects to the database named by dsn (a libpq URL,
// "postgres://user:pass@host:port/db?sslmode=...", or key=value string)
// and brings its schema up to date. The database must exist; the user
// needs the right to create tables in it.
func OpenPostgres(ctx context.Context, dsn string) (*Postgres, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx's parse errors can quote the DSN, password included.
		return nil, errors.New("store: postgres: invalid dsn")
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store: postgres: %w", err)
	}
	p := &Postgres{pool: pool}
	if err := p.migrate(ctx, "schema_migrations", pgMigrations()); err != nil {
		pool.Close()
		return nil, err
	}
	return p, nil
}

// migrate applies the missing migrations of one track (recorded in table),
// each in one transaction holding the migration lock, so that concurrent
// openers apply each exactly once.
func (p *Postgres) migrate(ctx context.Context, table string, migrations [][]string) error {
	for i, stmts := range migrations {
		if err := p.migrateOne(ctx, table, i+1, stmts); err != nil {
			return fmt.Errorf("store: postgres: migrate %s to version %d: %w", table, i+1, err)
		}
	}
	return nil
}

// migrateOne applies one migration unless already recorded.
func (p *Postgres) migrateOne(ctx context.Context, table string, version int, stmts []string) error {
	return pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, pgLockMigrate); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+table+` (
			version    INTEGER PRIMARY KEY,
			applied_at TIMESTAMPTZ NOT NULL
		)`); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM `+table+` WHERE version = $1`, version).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		for _, stmt := range stmts {
			if _, err := tx.Exec(ctx, stmt); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, `INSERT INTO `+table+` (version, applied_at) VALUES ($1, $2)`, version, time.Now().UTC())
		return err
	})
}

// SchemaVersion returns the highest applied metadata migration.
func (p *Postgres) SchemaVersion(ctx context.Context) (int, error) {
	var v *int
	if err := p.pool.QueryRow(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, fmt.Errorf("store: postgres: schema version: %w", err)
	}
	if v == nil {
		return 0, nil
	}
	return *v, nil
}

// Close implements [MetaDB].
func (p *Postgres) Close() error {
	p.pool.Close()
	return nil
}

// pgTime converts t to a stored timestamp: UTC, truncated to
// microseconds; the zero time is NULL.
func pgTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.Truncate(time.Microsecond).UTC()
	return &u
}

// fromPGTime converts a stored timestamp back to UTC; NULL is zero.
func fromPGTime(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

// pgUniqueViolation is PostgreSQL's SQLSTATE for a unique constraint
// failure.
const pgUniqueViolation = "23505"

// isPGUniqueViolation reports whether err is a unique constraint failure.
func isPGUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == pgUniqueViolation
}

var _ MetaDB = (*Postgres)(nil)
