package store

import (
	"context"
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

// migrateAudit applies the missing migrations of this track.
func (a *SQLiteAudit) migrateAudit(ctx context.Context) error {
	return migrateSQLite(ctx, a.db.DB, "audit_schema_migrations", sqliteAuditMigrations())
}
