package store

import (
	"context"
	"time"
)

// AuditStore keeps the relay's audit log: entries at consecutive indexes
// 0, 1, 2, ..., the opaque hashes the audit package stores beside them
// (its Merkle tree's stored hashes), and signed checkpoints. It only stores
// and reads; hashing, signing and verification belong to package audit.
//
// The store never edits or deletes an entry, a hash or a checkpoint: there
// are no such methods. Implementations (SQLite here, PostgreSQL later) must
// pass storetest.RunAuditStore, are safe for concurrent use, and keep the
// index dense and unique when several processes share one database. Times go
// in and come out in UTC, truncated to microseconds.
type AuditStore interface {
	// AppendAudit appends one entry at the next index, atomically: in one
	// transaction it finds the next index n (one past the highest stored),
	// calls build(n, hashes), where hashes reads stored hashes inside the
	// same transaction, and inserts the entry and the hashes build
	// returned. A concurrent appender that took n first makes the insert
	// fail on the unique index; the transaction is then rolled back and
	// retried with a fresh n, so build may be called more than once and
	// must have no side effects. An index still taken after the retries,
	// or a stored hash that already exists, fails with [ErrConflict]. An
	// entry whose Index is not n, or without Actor or Action or Data,
	// fails with [ErrInvalidRecord]. It returns the stored entry.
	AppendAudit(ctx context.Context, build AuditBuildFunc) (*AuditEntry, error)

	// AuditSize returns one more than the highest stored index, or 0 for
	// an empty log. (With entries deleted behind the store's back this is
	// more than the number of rows; verification finds the gap.)
	AuditSize(ctx context.Context) (int64, error)

	// ReadAudit returns the entries with from <= Index < to, ordered by
	// Index. Missing indexes are simply absent: gaps are for the caller
	// to judge.
	ReadAudit(ctx context.Context, from, to int64) ([]AuditEntry, error)

	// ReadAuditHashes returns the stored hashes with the given ids, in the
	// order asked. A missing id fails with [ErrNotExist].
	ReadAuditHashes(ctx context.Context, ids []int64) ([][]byte, error)

	// AuditHashRange returns the stored hashes with from <= ID < to,
	// ordered by ID. Missing ids are simply absent.
	AuditHashRange(ctx context.Context, from, to int64) ([]AuditHash, error)

	// QueryAudit returns up to limit entries with Index > after that match
	// f, ordered by Index (keyset paging: pass the last Index seen as
	// after, and -1 to start). limit <= 0 means 1000.
	QueryAudit(ctx context.Context, f AuditFilter, after int64, limit int) ([]AuditEntry, error)

	// PutAuditCheckpoint stores c (its ID is assigned by the store and
	// returned). Size must be >= 0 and Note non-empty, else
	// [ErrInvalidRecord].
	PutAuditCheckpoint(ctx context.Context, c AuditCheckpoint) (int64, error)

	// AuditCheckpoints returns every stored checkpoint ordered by ID
	// (oldest first).
	AuditCheckpoints(ctx context.Context) ([]AuditCheckpoint, error)

	// LatestAuditCheckpoint returns the checkpoint with the largest Size
	// (the newest of those), or [ErrNotExist] when there is none.
	LatestAuditCheckpoint(ctx context.Context) (*AuditCheckpoint, error)
}

// AuditBuildFunc builds the entry to store at index. hashes reads stored
// hashes inside the append's transaction. See [AuditStore.AppendAudit].
type AuditBuildFunc func(index int64, hashes AuditHashReader) (AuditAppend, error)

// AuditHashReader reads stored hashes by id, in the order asked; a missing
// id fails with [ErrNotExist].
type AuditHashReader func(ids []int64) ([][]byte, error)

// AuditAppend is what an [AuditBuildFunc] asks the store to insert: one
// entry and the hashes Hashes[i] to store at id HashStart+i.
type AuditAppend struct {
	// Entry is the entry; Entry.Index must be the index build was given.
	Entry AuditEntry
	// HashStart is the id of Hashes[0].
	HashStart int64
	// Hashes are opaque to the store.
	Hashes [][]byte
}

// AuditHash is one stored hash and its id.
type AuditHash struct {
	// ID is the hash's id (for package audit, its tlog stored-hash index).
	ID int64
	// Hash is opaque to the store.
	Hash []byte
}

// AuditEntry is one stored audit entry. Data is the authoritative,
// canonical encoding of the whole event (the Merkle leaf); the other
// fields copy some of it into columns so that queries can use indexes.
// Nothing here may hold PHI.
type AuditEntry struct {
	// Index is the entry's position in the log, from 0.
	Index int64 `json:"index"`
	// Time is when the relay recorded the event, UTC.
	Time time.Time `json:"time"`
	// Actor is a user name, an agent ID or "system". Required.
	Actor string `json:"actor"`
	// Action is the event's action code. Required.
	Action string `json:"action"`
	// Project is the project concerned, if any.
	Project string `json:"project,omitempty"`
	// Study is the pseudonymous StudyInstanceUID concerned, if any.
	Study string `json:"study,omitempty"`
	// Data is the canonical encoding of the entry. Required.
	Data []byte `json:"data"`
}

// AuditFilter selects entries in [AuditStore.QueryAudit]. Zero fields
// match everything.
type AuditFilter struct {
	// Since keeps entries with Time >= Since.
	Since time.Time `json:"since,omitzero"`
	// Until keeps entries with Time < Until.
	Until time.Time `json:"until,omitzero"`
	// Actor keeps entries of this actor.
	Actor string `json:"actor,omitempty"`
	// Action keeps entries with this action.
	Action string `json:"action,omitempty"`
	// Project keeps entries of this project.
	Project string `json:"project,omitempty"`
	// Study keeps entries of this study.
	Study string `json:"study,omitempty"`
}

// AuditCheckpoint is a signed statement of the audit tree's size and root
// hash: the text of a signed note, stored as given.
type AuditCheckpoint struct {
	// ID orders checkpoints by insertion; assigned by the store.
	ID int64 `json:"id"`
	// Size is the number of entries the checkpoint covers.
	Size int64 `json:"size"`
	// Note is the signed note text.
	Note []byte `json:"note"`
	// CreatedAt is when it was stored, UTC.
	CreatedAt time.Time `json:"created_at"`
}
