package store

// sqliteMigrations returns the schema migrations, in order: element i is
// version i+1, a list of statements applied in one transaction and recorded
// in schema_migrations. Never edit a released migration; append a new one.
func sqliteMigrations() [][]string {
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
				size          INTEGER NOT NULL,
				sha256        TEXT NOT NULL,
				plain_sha256  TEXT NOT NULL,
				manifest      BLOB,
				receipt       BLOB,
				committed_at  INTEGER NOT NULL,
				UNIQUE (project, instance_uid)
			)`,
			`CREATE INDEX files_study ON files (project, study_uid)`,
			`CREATE TABLE conflicts (
				id               INTEGER PRIMARY KEY AUTOINCREMENT,
				project          TEXT NOT NULL,
				instance_uid     TEXT NOT NULL,
				existing_file_id TEXT NOT NULL,
				file_id          TEXT NOT NULL,
				site             TEXT NOT NULL,
				agent_id         TEXT NOT NULL,
				sha256           TEXT NOT NULL,
				plain_sha256     TEXT NOT NULL,
				detected_at      INTEGER NOT NULL,
				UNIQUE (project, file_id)
			)`,
			`CREATE TABLE enrolment_tokens (
				hash       TEXT PRIMARY KEY,
				project    TEXT NOT NULL,
				site       TEXT NOT NULL,
				expires_at INTEGER NOT NULL,
				created_by TEXT NOT NULL,
				used_at    INTEGER
			)`,
			`CREATE TABLE agents (
				id          TEXT PRIMARY KEY,
				project     TEXT NOT NULL,
				site        TEXT NOT NULL,
				cert_serial TEXT NOT NULL,
				public_key  BLOB,
				enrolled_at INTEGER,
				revoked     INTEGER NOT NULL DEFAULT 0,
				revoked_at  INTEGER
			)`,
			`CREATE INDEX agents_project ON agents (project, id)`,
			`CREATE TABLE downloads (
				id        INTEGER PRIMARY KEY AUTOINCREMENT,
				file_id   TEXT NOT NULL,
				principal TEXT NOT NULL,
				at        INTEGER NOT NULL
			)`,
			`CREATE INDEX downloads_file ON downloads (file_id, at)`,
		},
		{ // version 2: WireGuard peers of agents enrolled with a key
			`CREATE TABLE wireguard_peers (
				agent_id   TEXT PRIMARY KEY,
				public_key BLOB NOT NULL UNIQUE,
				tunnel_ip  TEXT NOT NULL UNIQUE,
				created_at INTEGER NOT NULL
			)`,
		},
	}
}
