package store

import (
	"context"
	"fmt"
	"time"
)

// sqliteAuditMigrations returns the audit log's schema migrations, in the
// same form as [sqliteMigrations] but on a track of their own, recorded in
// audit_schema_migrations: the audit tables version independently of the
// metadata schema, so that opening the audit log never changes
// [SQLite.SchemaVersion]. Never edit a released migration; append.
//
// The columns are plain SQL (INTEGER, TEXT, BLOB) so that the PostgreSQL
// schema can mirror them (BIGINT, TEXT, BYTEA).
func sqliteAuditMigrations() [][]string {
	return [][]string{
		{ // version 1: entries, stored hashes, checkpoints
			`CREATE TABLE audit_entries (
				idx     INTEGER PRIMARY KEY,
				time    INTEGER NOT NULL,
				actor   TEXT NOT NULL,
				action  TEXT NOT NULL,
				project TEXT NOT NULL DEFAULT '',
				study   TEXT NOT NULL DEFAULT '',
				data    BLOB NOT NULL
			)`,
			`CREATE INDEX audit_entries_time ON audit_entries (time, idx)`,
			`CREATE INDEX audit_entries_actor ON audit_entries (actor, idx)`,
			`CREATE INDEX audit_entries_project ON audit_entries (project, study, idx)`,
			`CREATE TABLE audit_hashes (
				id   INTEGER PRIMARY KEY,
				hash BLOB NOT NULL
			)`,
			`CREATE TABLE audit_checkpoints (
				id         INTEGER PRIMARY KEY AUTOINCREMENT,
				size       INTEGER NOT NULL,
				note       TEXT NOT NULL,
				created_at INTEGER NOT NULL
			)`,
			`CREATE INDEX audit_checkpoints_size ON audit_checkpoints (size, id)`,
		},
	}
}

// migrateAudit applies the missing audit migrations, each in one immediate
// transaction so that concurrent openers apply each exactly once.
func (a *SQLiteAudit) migrateAudit(ctx context.Context) error {
	if _, err := a.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS audit_schema_migrations (
		version    INTEGER PRIMARY KEY,
		applied_at INTEGER NOT NULL
	)`); err != nil {
		return fmt.Errorf("store: sqlite: audit migrate: %w", err)
	}
	for i, stmts := range sqliteAuditMigrations() {
		if err := a.migrateAuditOne(ctx, i+1, stmts); err != nil {
			return fmt.Errorf("store: sqlite: audit migrate to version %d: %w", i+1, err)
		}
	}
	return nil
}

// migrateAuditOne applies one audit migration unless already recorded.
func (a *SQLiteAudit) migrateAuditOne(ctx context.Context, version int, stmts []string) error {
	tx, err := a.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM audit_schema_migrations WHERE version = ?`, version).Scan(&n); err != nil {
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
	if _, err := tx.ExecContext(ctx, `INSERT INTO audit_schema_migrations (version, applied_at) VALUES (?, ?)`,
		version, time.Now().UnixMicro()); err != nil {
		return err
	}
	return tx.Commit()
}
