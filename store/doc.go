// Package store keeps the relay's data: sealed objects behind one
// [ObjectStore] interface (a local directory, [FS], or an S3 bucket, [S3])
// and the metadata database behind [MetaDB] (embedded SQLite,
// [OpenSQLite], or PostgreSQL for several relays, [OpenPostgres]), which
// also holds the audit trail ([AuditStore]) and the accounts
// ([AccountStore]). One conformance suite per interface in storetest runs
// against every back end.
//
// It imports nothing of dicomgate's. The relay and audit packages import
// it; the agent never does. Nothing here ever holds PHI: objects are
// ciphertext and records carry pseudonymous UIDs and hashes only.
//
// # Object stores
//
// Keys are checked by [CheckKey] on every back end alike: 1 to
// [MaxKeyLen] bytes of [A-Za-z0-9._/-], no leading or trailing "/", no
// "..", no empty or "." segments. Put takes the exact size and streams;
// it is atomic (temporary file, fsync, rename on FS; a single PUT or a
// completed multipart upload on S3), so no reader ever sees a partial
// object, and overwriting is allowed at this layer (the relay decides
// whether to). Get takes an offset so that downloads can resume.
//
// # Metadata database
//
// [MetaDB.CommitFile] is idempotent: re-sending a committed FileID, or the
// same plaintext sealed again, returns the existing record. A different
// file for an instance UID already committed in the project is refused
// with [ErrConflict] and recorded for review ([MetaDB.ListConflicts]).
// Enrolment tokens are stored as hashes and redeemed once, atomically.
// Uniqueness is enforced by the database's constraints, so it holds when
// several relays share one database.
//
// # Errors
//
// Errors are prefixed "store: " and wrap a sentinel where callers branch;
// test with [errors.Is]:
//
//   - [ErrNotExist]: Get, Stat or Delete of a missing object; GetFile,
//     GetAgent or RevokeAgent of an unknown ID; DeleteWireGuardPeer of
//     an agent without a peer; NewS3 of a missing bucket
//     without CreateBucket.
//   - [ErrInvalidKey]: any ObjectStore call with a key (or List prefix)
//     that fails CheckKey, before any I/O.
//   - [ErrInvalidOffset]: Get with an offset < 0 or > size.
//   - [ErrSizeMismatch]: Put whose reader is shorter or longer than size
//     (or a negative size); nothing is stored.
//   - [ErrConflict]: CommitFile of a different file for a committed
//     (project, instance UID), returned with the existing record; a
//     duplicate enrolment token hash; a WireGuard public key or tunnel
//     IP already held by another agent.
//   - [ErrTokenInvalid]: RedeemEnrolmentToken of an unknown, used or
//     expired token (indistinguishable on purpose).
//   - [ErrInvalidRecord]: a record missing a required field.
//   - A cancelled or expired context: the error wraps ctx.Err(), so
//     errors.Is(err, context.Canceled) holds.
//
// Anything else is an I/O or database failure and may be retried. [IsFull]
// picks out the one that is certain to pass once an operator acts: the
// disk, database or bucket under the back end is full.
// Messages name keys and IDs, which are pseudonymous by design, and
// never contain object contents or credentials ([Secret] prints as
// "**redacted**").
//
// # Tests
//
// Package storetest holds the conformance suites every implementation
// passes (storetest.Run, storetest.RunMetaDB) and storetest.StartS3, which
// runs a real S3 server (versitygw) on 127.0.0.1; scripts/s3test.sh
// installs it.
package store
