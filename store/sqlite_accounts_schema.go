package store

import (
	"context"
)

// sqliteAccountMigrations returns the account schema's migrations (accounts,
// grants, password history, sessions, signatures, policy registry,
// releases), on their own track recorded in accounts_schema_migrations, as
// [sqliteAuditMigrations] does for the audit tables. Never edit a released
// migration; append.
func sqliteAccountMigrations() [][]string {
	return [][]string{
		{ // version 1
			`CREATE TABLE accounts (
				name                TEXT PRIMARY KEY,
				full_name           TEXT NOT NULL,
				password_hash       TEXT NOT NULL,
				must_change         INTEGER NOT NULL DEFAULT 1,
				password_changed_at INTEGER,
				disabled            INTEGER NOT NULL DEFAULT 0,
				failed_logins       INTEGER NOT NULL DEFAULT 0,
				locked_at           INTEGER,
				totp_secret         TEXT NOT NULL DEFAULT '',
				totp_pending        TEXT NOT NULL DEFAULT '',
				totp_last_step      INTEGER NOT NULL DEFAULT 0,
				created_at          INTEGER NOT NULL,
				created_by          TEXT NOT NULL
			)`,
			`CREATE TABLE account_grants (
				account TEXT NOT NULL REFERENCES accounts (name),
				project TEXT NOT NULL,
				role    TEXT NOT NULL,
				PRIMARY KEY (account, project, role)
			)`,
			`CREATE TABLE password_history (
				id      INTEGER PRIMARY KEY AUTOINCREMENT,
				account TEXT NOT NULL REFERENCES accounts (name),
				hash    TEXT NOT NULL,
				at      INTEGER NOT NULL
			)`,
			`CREATE INDEX password_history_account ON password_history (account, id)`,
			`CREATE TABLE sessions (
				id         TEXT PRIMARY KEY,
				account    TEXT NOT NULL REFERENCES accounts (name),
				csrf       TEXT NOT NULL,
				ip         TEXT NOT NULL,
				created_at INTEGER NOT NULL,
				last_seen  INTEGER NOT NULL,
				ended_at   INTEGER,
				end_reason TEXT NOT NULL DEFAULT ''
			)`,
			`CREATE INDEX sessions_account ON sessions (account, ended_at)`,
			`CREATE TABLE signatures (
				id            INTEGER PRIMARY KEY AUTOINCREMENT,
				account       TEXT NOT NULL REFERENCES accounts (name),
				printed_name  TEXT NOT NULL,
				meaning       TEXT NOT NULL,
				signed_at     INTEGER NOT NULL,
				record_type   TEXT NOT NULL,
				record_id     TEXT NOT NULL,
				record_sha256 TEXT NOT NULL,
				seal          BLOB NOT NULL
			)`,
			`CREATE INDEX signatures_record ON signatures (record_type, record_id, id)`,
			`CREATE TABLE policy_revisions (
				id         INTEGER PRIMARY KEY AUTOINCREMENT,
				policy_id  TEXT NOT NULL,
				version    INTEGER NOT NULL,
				hash       TEXT NOT NULL,
				yaml       TEXT NOT NULL,
				created_by TEXT NOT NULL,
				created_at INTEGER NOT NULL,
				UNIQUE (policy_id, hash)
			)`,
			`CREATE TABLE policy_approvals (
				project         TEXT NOT NULL,
				policy_revision INTEGER NOT NULL REFERENCES policy_revisions (id),
				policy_hash     TEXT NOT NULL,
				signature_id    INTEGER NOT NULL REFERENCES signatures (id),
				approved_at     INTEGER NOT NULL,
				PRIMARY KEY (project, policy_revision)
			)`,
			`CREATE TABLE study_releases (
				project      TEXT NOT NULL,
				study_uid    TEXT NOT NULL,
				signature_id INTEGER NOT NULL REFERENCES signatures (id),
				released_at  INTEGER NOT NULL,
				PRIMARY KEY (project, study_uid)
			)`,
		},
	}
}

// migrateAccounts applies the missing migrations of this track.
func (a *SQLiteAccounts) migrateAccounts(ctx context.Context) error {
	return migrateSQLite(ctx, a.db.DB, "accounts_schema_migrations", sqliteAccountMigrations())
}
