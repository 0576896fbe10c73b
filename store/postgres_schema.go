package store

// pgMigrations returns the metadata schema migrations for PostgreSQL, in
// the form of [sqliteMigrations] and mirroring it table for table and
// column for column (INTEGER becomes BIGINT, BLOB BYTEA, integer
// microseconds TIMESTAMPTZ). Never edit a released migration; append.
func pgMigrations() [][]string {
	return [][]string{
		{ // version 1: the initial schema
			`CREATE TABLE files (
				file_id       TEXT PRIMARY KEY,
				project       TEXT NOT NULL,
				site          TEXT NOT NULL,
				agent_id      TEXT NOT NULL,
				study_uid     TEXT NOT NULL,
				series_uid    TEXT NOT NULL,
				instance_uid  TEXT NOT NULL,
				sop_class_uid TEXT NOT NULL,
				modality      TEXT NOT NULL,
				object_key    TEXT NOT NULL,
				size          BIGINT NOT NULL,
				sha256        TEXT NOT NULL,
				plain_sha256  TEXT NOT NULL,
				manifest      BYTEA,
				receipt       BYTEA,
				committed_at  TIMESTAMPTZ NOT NULL,
				UNIQUE (project, instance_uid)
			)`,
			`CREATE INDEX files_study ON files (project, study_uid)`,
			`CREATE TABLE conflicts (
				id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
				project          TEXT NOT NULL,
				instance_uid     TEXT NOT NULL,
				existing_file_id TEXT NOT NULL,
				file_id          TEXT NOT NULL,
				site             TEXT NOT NULL,
				agent_id         TEXT NOT NULL,
				sha256           TEXT NOT NULL,
				plain_sha256     TEXT NOT NULL,
				detected_at      TIMESTAMPTZ NOT NULL,
				UNIQUE (project, file_id)
			)`,
			`CREATE TABLE enrolment_tokens (
				hash       TEXT PRIMARY KEY,
				project    TEXT NOT NULL,
				site       TEXT NOT NULL,
				expires_at TIMESTAMPTZ NOT NULL,
				created_by TEXT NOT NULL,
				used_at    TIMESTAMPTZ
			)`,
			`CREATE TABLE agents (
				id          TEXT PRIMARY KEY,
				project     TEXT NOT NULL,
				site        TEXT NOT NULL,
				cert_serial TEXT NOT NULL,
				public_key  BYTEA,
				enrolled_at TIMESTAMPTZ,
				revoked     BOOLEAN NOT NULL DEFAULT FALSE,
				revoked_at  TIMESTAMPTZ
			)`,
			`CREATE INDEX agents_project ON agents (project, id)`,
			`CREATE TABLE downloads (
				id        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
				file_id   TEXT NOT NULL,
				principal TEXT NOT NULL,
				at        TIMESTAMPTZ NOT NULL
			)`,
			`CREATE INDEX downloads_file ON downloads (file_id, at)`,
		},
		{ // version 2: WireGuard peers of agents enrolled with a key
			`CREATE TABLE wireguard_peers (
				agent_id   TEXT PRIMARY KEY,
				public_key BYTEA NOT NULL UNIQUE,
				tunnel_ip  TEXT NOT NULL UNIQUE,
				created_at TIMESTAMPTZ NOT NULL
			)`,
		},
	}
}

// pgAuditMigrations returns the audit log's migrations for PostgreSQL, on
// their own track (audit_schema_migrations) like [sqliteAuditMigrations],
// which they mirror.
func pgAuditMigrations() [][]string {
	return [][]string{
		{ // version 1: entries, stored hashes, checkpoints
			`CREATE TABLE audit_entries (
				idx     BIGINT PRIMARY KEY,
				time    TIMESTAMPTZ NOT NULL,
				actor   TEXT NOT NULL,
				action  TEXT NOT NULL,
				project TEXT NOT NULL DEFAULT '',
				study   TEXT NOT NULL DEFAULT '',
				data    BYTEA NOT NULL
			)`,
			`CREATE INDEX audit_entries_time ON audit_entries (time, idx)`,
			`CREATE INDEX audit_entries_actor ON audit_entries (actor, idx)`,
			`CREATE INDEX audit_entries_project ON audit_entries (project, study, idx)`,
			`CREATE TABLE audit_hashes (
				id   BIGINT PRIMARY KEY,
				hash BYTEA NOT NULL
			)`,
			`CREATE TABLE audit_checkpoints (
				id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
				size       BIGINT NOT NULL,
				note       TEXT NOT NULL,
				created_at TIMESTAMPTZ NOT NULL
			)`,
			`CREATE INDEX audit_checkpoints_size ON audit_checkpoints (size, id)`,
		},
	}
}

// pgAccountMigrations returns the account schema's migrations for
// PostgreSQL, on their own track (accounts_schema_migrations) like
// [sqliteAccountMigrations], which they mirror table for table and column
// for column (INTEGER flags become BOOLEAN, AUTOINCREMENT keys identity
// columns).
func pgAccountMigrations() [][]string {
	return [][]string{
		{ // version 1
			`CREATE TABLE accounts (
				name                TEXT PRIMARY KEY,
				full_name           TEXT NOT NULL,
				password_hash       TEXT NOT NULL,
				must_change         BOOLEAN NOT NULL DEFAULT TRUE,
				password_changed_at TIMESTAMPTZ,
				disabled            BOOLEAN NOT NULL DEFAULT FALSE,
				failed_logins       BIGINT NOT NULL DEFAULT 0,
				locked_at           TIMESTAMPTZ,
				totp_secret         TEXT NOT NULL DEFAULT '',
				totp_pending        TEXT NOT NULL DEFAULT '',
				totp_last_step      BIGINT NOT NULL DEFAULT 0,
				created_at          TIMESTAMPTZ NOT NULL,
				created_by          TEXT NOT NULL
			)`,
			`CREATE TABLE account_grants (
				account TEXT NOT NULL REFERENCES accounts (name),
				project TEXT NOT NULL,
				role    TEXT NOT NULL,
				PRIMARY KEY (account, project, role)
			)`,
			`CREATE TABLE password_history (
				id      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
				account TEXT NOT NULL REFERENCES accounts (name),
				hash    TEXT NOT NULL,
				at      TIMESTAMPTZ NOT NULL
			)`,
			`CREATE INDEX password_history_account ON password_history (account, id)`,
			`CREATE TABLE sessions (
				id         TEXT PRIMARY KEY,
				account    TEXT NOT NULL REFERENCES accounts (name),
				csrf       TEXT NOT NULL,
				ip         TEXT NOT NULL,
				created_at TIMESTAMPTZ NOT NULL,
				last_seen  TIMESTAMPTZ NOT NULL,
				ended_at   TIMESTAMPTZ,
				end_reason TEXT NOT NULL DEFAULT ''
			)`,
			`CREATE INDEX sessions_account ON sessions (account, ended_at)`,
			`CREATE TABLE signatures (
				id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
				account       TEXT NOT NULL REFERENCES accounts (name),
				printed_name  TEXT NOT NULL,
				meaning       TEXT NOT NULL,
				signed_at     TIMESTAMPTZ NOT NULL,
				record_type   TEXT NOT NULL,
				record_id     TEXT NOT NULL,
				record_sha256 TEXT NOT NULL,
				seal          BYTEA NOT NULL
			)`,
			`CREATE INDEX signatures_record ON signatures (record_type, record_id, id)`,
			`CREATE TABLE policy_revisions (
				id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
				policy_id  TEXT NOT NULL,
				version    BIGINT NOT NULL,
				hash       TEXT NOT NULL,
				yaml       TEXT NOT NULL,
				created_by TEXT NOT NULL,
				created_at TIMESTAMPTZ NOT NULL,
				UNIQUE (policy_id, hash)
			)`,
			`CREATE TABLE policy_approvals (
				project         TEXT NOT NULL,
				policy_revision BIGINT NOT NULL REFERENCES policy_revisions (id),
				policy_hash     TEXT NOT NULL,
				signature_id    BIGINT NOT NULL REFERENCES signatures (id),
				approved_at     TIMESTAMPTZ NOT NULL,
				PRIMARY KEY (project, policy_revision)
			)`,
			`CREATE TABLE study_releases (
				project      TEXT NOT NULL,
				study_uid    TEXT NOT NULL,
				signature_id BIGINT NOT NULL REFERENCES signatures (id),
				released_at  TIMESTAMPTZ NOT NULL,
				PRIMARY KEY (project, study_uid)
			)`,
		},
	}
}
