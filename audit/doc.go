// Package audit is the relay's audit trail for 21 CFR Part 11 and GDPR:
// an append-only, tamper-evident log of who did what, when.
//
// Of dicomgate's packages it imports only store; the relay and
// cmd/dicomgate import it.
//
// # NO PHI, EVER
//
// AN EVENT MUST NEVER CONTAIN PERSONAL HEALTH INFORMATION. The trail is
// kept forever, exported to inspectors and copied around; it can never be
// redacted without breaking its hashes. Record only: user names, agent
// IDs, "system", action codes, project names, PSEUDONYMOUS UIDs (after
// anonymisation), file IDs, policy IDs and versions, hashes, counts, IP
// addresses and short reason codes. Never a patient name, patient ID,
// birth date, accession number, original UID, source path or any DICOM
// attribute value. This package cannot tell a patient name from a user
// name, so it does not try: [Event.Details] accepts any JSON value, and
// keeping PHI out is the caller's duty, checked in review.
//
// # Model
//
// A [Log] appends [Event]s to a [store.AuditStore]. Each event gets the
// next index (0, 1, 2, ...; dense and unique even with several relays on
// one database) and the server's UTC time; its canonical JSON encoding,
// index included, is a leaf of a Merkle tree hashed per RFC 6962 with
// golang.org/x/mod/sumdb/tlog, whose stored hashes are written in the same
// transaction. Actions come from a fixed vocabulary ([Action]).
//
// A [Checkpoint] is a signed note (golang.org/x/mod/sumdb/note):
//
//	dicomgate-audit
//	<size>
//	<base64 root hash>
//
//	— <key name> <base64 Ed25519 signature>
//
// The log writes one every [Options.CheckpointEvery] entries, on every
// export and whenever [Log.Checkpoint] is called (the relay also calls it
// on a timer). Before signing it proves the new tree extends the last
// checkpoint, so it never signs over a rewritten history. Keys: [NewSigner]
// from the relay's Ed25519 key, [VerifierKey] to publish its public half,
// [NewVerifiers] for all keys ever used (rotation: keep retired keys in the
// list; old checkpoints stay verifiable).
//
// # Verification
//
// [Log.Verify] re-hashes every entry, rebuilds the tree, opens every
// checkpoint and checks the tree's root at its size, and names the first
// bad entry with a [Reason]: edited, deleted, inserted, reordered, a
// stored hash altered, a checkpoint mismatch or a bad signature. Entries
// after the latest checkpoint ([VerifyResult.Unsealed]) are checked
// against the stored hashes only: someone able to write the database can
// append well-formed entries there, or truncate the log together with its
// checkpoints, undetected until a checkpoint kept elsewhere (an export, a
// witness) is compared. Checkpoint often; CheckpointEvery 1 seals each
// entry.
//
// # Query and export
//
// [Log.Query] iterates entries matching a [Filter] (time range, actor,
// action, project, study). [Log.Export] writes them as CSV, JSON or PDF
// (the PDF is the human-readable copy of 11.10(b): a title page with the
// filter and generation time, a table, and the checkpoint and verification
// result at the end). Every export is itself audited: it appends an
// "export" event and signs a checkpoint before writing.
//
// # Errors
//
// Errors are prefixed "audit: ". Callers branch on [ErrInvalidEvent] (an
// event Append refuses), [ErrTampered] (a log failing verification; a
// [*VerifyError] carries the [Problem]) and [ErrNoVerifier]; store errors
// are wrapped, so store sentinels work with [errors.Is] too.
package audit
