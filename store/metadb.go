package store

import (
	"context"
	"time"
)

// MetaDB is the relay's metadata database: committed files, conflicts,
// enrolment tokens, agents, their WireGuard peers and downloads. Implementations (SQLite here,
// PostgreSQL later) must pass storetest.RunMetaDB, are safe for concurrent
// use, and keep their invariants when several processes share one
// database. Times go in and come out in UTC, truncated to microseconds.
// Methods returning lists return them in a deterministic order, and an
// empty (nil) slice when there is nothing.
type MetaDB interface {
	// CommitFile records rec. It returns (nil, nil) when rec was inserted.
	// If rec.FileID is already committed it returns that record and no
	// error (an idempotent re-send). If another file holds (rec.Project,
	// rec.InstanceUID): with the same PlainSHA256 it is the same file
	// re-sealed, and the existing record is returned with no error; with a
	// different PlainSHA256 the attempt is recorded as a [Conflict] and the
	// existing record is returned with an error wrapping [ErrConflict].
	// A record missing a required field fails with [ErrInvalidRecord].
	CommitFile(ctx context.Context, rec FileRecord) (existing *FileRecord, err error)

	// GetFile returns the record of fileID, or [ErrNotExist].
	GetFile(ctx context.Context, fileID string) (*FileRecord, error)

	// ListStudies summarises each study of project, ordered by StudyUID.
	ListStudies(ctx context.Context, project string) ([]StudySummary, error)

	// ListFiles returns the files of one study of project, ordered by
	// SeriesUID, InstanceUID.
	ListFiles(ctx context.Context, project, studyUID string) ([]FileRecord, error)

	// ListConflicts returns project's conflicts, oldest first. A refused
	// FileID is recorded once however often it is re-sent.
	ListConflicts(ctx context.Context, project string) ([]Conflict, error)

	// CreateEnrolmentToken stores tok (UsedAt is ignored). A duplicate Hash
	// fails with [ErrConflict].
	CreateEnrolmentToken(ctx context.Context, tok EnrolmentToken) error

	// RedeemEnrolmentToken atomically marks the token with this hash used
	// at now and returns it. An unknown, already used or expired
	// (ExpiresAt <= now) token fails with [ErrTokenInvalid]; of concurrent
	// redeemers exactly one succeeds.
	RedeemEnrolmentToken(ctx context.Context, hash string, now time.Time) (*EnrolmentToken, error)

	// PutAgent inserts or replaces agent a. Revocation is final: replacing
	// a revoked agent keeps it revoked with its original RevokedAt.
	PutAgent(ctx context.Context, a Agent) error

	// GetAgent returns agent id, or [ErrNotExist].
	GetAgent(ctx context.Context, id string) (*Agent, error)

	// ListAgents returns the agents of project (all agents if project is
	// empty), ordered by ID.
	ListAgents(ctx context.Context, project string) ([]Agent, error)

	// RevokeAgent revokes agent id at the given time. Revoking a revoked
	// agent changes nothing and succeeds; an unknown id fails with
	// [ErrNotExist].
	RevokeAgent(ctx context.Context, id string, at time.Time) error

	// PutWireGuardPeer records the WireGuard peer of agent p.AgentID,
	// replacing the one it had. A public key or tunnel IP already held by
	// another agent fails with [ErrConflict], so concurrent relays never
	// hand out one address twice; a peer missing a field (or whose key is
	// not 32 bytes) fails with [ErrInvalidRecord].
	PutWireGuardPeer(ctx context.Context, p WireGuardPeer) error

	// ListWireGuardPeers returns every recorded peer, ordered by AgentID.
	ListWireGuardPeers(ctx context.Context) ([]WireGuardPeer, error)

	// DeleteWireGuardPeer removes the peer of agentID (a revoked agent);
	// an agent without one fails with [ErrNotExist].
	DeleteWireGuardPeer(ctx context.Context, agentID string) error

	// RecordDownload records a download.
	RecordDownload(ctx context.Context, d Download) error

	// ListDownloads returns the downloads of fileID, oldest first.
	ListDownloads(ctx context.Context, fileID string) ([]Download, error)

	// Close releases the database.
	Close() error
}

// InstanceFinder is an optional [MetaDB] extension: a MetaDB that can look
// up the holder of one instance directly (an indexed lookup) implements
// it. Callers fall back to [MetaDB.ListFiles] when it does not.
type InstanceFinder interface {
	// FindInstance returns the committed file that holds (project,
	// instanceUID), in whatever study, or an error wrapping [ErrNotExist].
	FindInstance(ctx context.Context, project, instanceUID string) (*FileRecord, error)
}

var _ InstanceFinder = (*SQLite)(nil)
