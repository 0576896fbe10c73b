package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"modernc.org/sqlite" // registers the "sqlite" driver (pure Go, no cgo)
	sqlite3 "modernc.org/sqlite/lib"
)

// SQLite is the embedded [MetaDB]: one SQLite file in WAL mode, driven by
// modernc.org/sqlite (no cgo). Several processes on one host may share the
// file; writers queue on a busy timeout. Times are stored as integer
// microseconds since the Unix epoch, UTC.
type SQLite struct {
	db *stmtDB
}

// sqliteBusyTimeout is how long a writer waits for the database lock.
const sqliteBusyTimeout = 10 * time.Second

// OpenSQLite opens (creating if needed) the database file at path and
// brings its schema up to date. path must be a file path, not ":memory:"
// or a URI.
func OpenSQLite(ctx context.Context, path string) (*SQLite, error) {
	if path == "" || path == ":memory:" || strings.ContainsAny(path, "?#") || strings.HasPrefix(path, "file:") {
		return nil, errors.New("store: sqlite: path must be a plain file path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("store: sqlite: %w", err)
	}
	// Create the file owner-only before SQLite does (it would use 0644);
	// the WAL and shared-memory files inherit its mode.
	if f, err := os.OpenFile(abs, os.O_CREATE|os.O_RDWR, 0o600); err == nil {
		f.Close()
	}
	dsn := abs + fmt.Sprintf("?_pragma=busy_timeout(%d)", sqliteBusyTimeout.Milliseconds()) +
		"&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=foreign_keys(1)" +
		"&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("store: sqlite: %w", err)
	}
	// One connection per process: SQLite has one writer at a time, and
	// writers waiting on its busy timeout are served unfairly (under 100+
	// concurrent uploads some waited past 10 s and failed with
	// SQLITE_BUSY). database/sql queues callers in order instead; each
	// statement takes about a millisecond. Several processes on one file
	// (relay and `dicomgate audit verify`) still meet at the busy timeout.
	db.SetMaxOpenConns(1)
	s := &SQLite{db: newStmtDB(db)}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// migrate applies the missing schema migrations of the metadata tables.
func (s *SQLite) migrate(ctx context.Context) error {
	return migrateSQLite(ctx, s.db.DB, "schema_migrations", sqliteMigrations())
}

// migrateSQLite applies the missing migrations of one track (metadata,
// audit, accounts), recorded in table, each in one immediate transaction
// so that concurrent openers apply each exactly once.
func migrateSQLite(ctx context.Context, db *sql.DB, table string, migrations [][]string) error {
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS `+table+` (
		version    INTEGER PRIMARY KEY,
		applied_at INTEGER NOT NULL
	)`); err != nil {
		return fmt.Errorf("store: sqlite: migrate %s: %w", table, err)
	}
	for i, stmts := range migrations {
		if err := migrateSQLiteOne(ctx, db, table, i+1, stmts); err != nil {
			return fmt.Errorf("store: sqlite: migrate %s to version %d: %w", table, i+1, err)
		}
	}
	return nil
}

// migrateSQLiteOne applies one migration unless already recorded.
func migrateSQLiteOne(ctx context.Context, db *sql.DB, table string, version int, stmts []string) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+table+` WHERE version = ?`, version).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	for _, stmt := range stmts {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO `+table+` (version, applied_at) VALUES (?, ?)`,
		version, time.Now().UnixMicro()); err != nil {
		return err
	}
	return tx.Commit()
}

// SchemaVersion returns the highest applied migration.
func (s *SQLite) SchemaVersion(ctx context.Context) (int, error) {
	var v sql.NullInt64
	if err := s.db.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, fmt.Errorf("store: sqlite: schema version: %w", err)
	}
	return int(v.Int64), nil
}

// Close implements [MetaDB].
func (s *SQLite) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("store: sqlite: close: %w", err)
	}
	return nil
}

// micro converts t to stored microseconds; the zero time is NULL.
func micro(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMicro(), Valid: true}
}

// fromMicro converts stored microseconds back to a UTC time; NULL is zero.
func fromMicro(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.UnixMicro(v.Int64).UTC()
}

// nowOr returns t, or the current time if t is zero.
func nowOr(t time.Time) time.Time {
	if t.IsZero() {
		return time.Now()
	}
	return t
}

// isUniqueViolation reports whether err is a UNIQUE or PRIMARY KEY
// constraint failure.
func isUniqueViolation(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	return se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
}

var _ MetaDB = (*SQLite)(nil)
