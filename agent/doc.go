// Package agent is the site side of dicomgate: it takes DICOM files in,
// keeps them in a durable queue, and drives each one through anonymisation,
// sealing and upload until the relay answers with a receipt.
//
// # Overview
//
// Files enter through an [Intake]: watched folders (fsnotify events plus a
// periodic rescan, a file being taken only once it is stable) or
// [Intake.Enqueue] for `dicomgate send`. Each file becomes one [Item] in the
// [Queue], an embedded SQLite database. An item moves through the states
//
//	seen → anonymised → sealed → sent → committed
//
// or ends in quarantined (the pipeline moves seen → sealed and, when the
// source is kept, sealed → committed in one transaction each). Every
// transition is one transaction, so an agent restarted after a crash
// resumes each item exactly where it stopped.
//
// A [Pipeline] runs the stages. The anonymiser+sealer and the uploader are
// the small interfaces [Processor] and [Uploader]. Their real
// implementations are [SealProcessor] (anonymise with the compiled policy,
// stream into a sealed file, sign the manifest) and [RelayUploader] (one
// shared QUIC or TCP connection to the relay).
//
// # Durability
//
// The queue commits every state change with an fsync (synchronous=FULL),
// but these writes commit without one (synchronous=NORMAL in
// WAL mode: a power cut may roll back the last of them, never corrupt the
// database; a crash of the process loses nothing, the WAL being in the
// kernel's cache):
//
//   - leases (Claim): every open releases all leases anyway;
//   - files found in watched folders (AddFound): the source stays in its
//     folder until committed, so an insert rolled back is found again by
//     the next scan;
//   - sent → committed (MarkCommitted), after the durable MarkSent that
//     precedes deleting or moving the source: rolled back, the item is
//     back in sent and finishing it again finds the source already gone;
//   - the transitions of a file sealed in memory (below): rolled back, the
//     item is processed and sent again.
//
// Everything else must be durable, and the order matters: a sealed item
// in the spool keeps its spool file until committed is durable, so that an
// upload cut off resumes from the relay's offset with the same bytes
// (sealing again gives other bytes, which start over). So the spool file
// is fsynced, renamed and its folder fsynced before seen → sealed
// (MarkProcessed, one transaction where there were two), and it is removed
// only after sealed → committed (MarkSentCommitted, one transaction where
// there were two, when the source is kept) or sent → committed; a crash in
// between leaves a spool file that the next Run removes. Any synchronous
// commit also makes the earlier unsynchronised ones durable.
//
// A committed item stays in the queue (with its receipt) while its source
// is in place, unchanged: the unique (path, size, mtime) of the items is
// what keeps a watched folder's rescans from taking the file again. Once
// the source is gone (moved or deleted after the commit, or the intake
// journal segment reused) and keep_committed (30 days) has passed, Run's
// hourly [Queue.PruneCommitted] deletes the item, so the queue of a site
// that moves or deletes its sources does not grow without end.
//
// # Sealed in memory
//
// A source of up to 8 MiB is sealed into memory rather than into the
// spool folder when the spool_memory budget (default 32 MiB; -1 turns
// this off) allows (a CT slice is 0.5 MB; 8 uploads in flight use 4 MB of
// it; processing waits up to 2 s for room, which uploads ending make, so
// it keeps pace with uploading rather than racing ahead into the spool
// folder): the item becomes sealed with no spool
// path (without an fsync) and the upload stage sends it from memory, then
// marks it committed (without an fsync when the source is kept). Nothing is
// written to disk for it: no spool file is created, written, fsynced,
// renamed, read back and removed, which on a busy site's file system is
// most of what sealing a small file costs. If that first upload fails and
// will be retried, the sealed bytes are first written to the spool exactly
// as above, so the retry resumes from the relay's offset. If the process
// stops first (or a power cut rolls a transition back), the item is found
// sealed with no spool file, or in an earlier state, and is processed
// again: the same anonymised content gets the same file id, and the relay
// answers a file it already holds with its receipt. Larger files, and
// files past the budget, go through the spool.
//
// # Service and one-off send
//
// [New] loads the policy, site secret, recipients and the identity written
// by [Enroll]; [Agent.Run] is `dicomgate agent` and [Agent.Send] is
// `dicomgate send`. Both hold the queue's lock, so a send while the service
// runs fails with [ErrAgentRunning].
//
// # Identity
//
// [Enroll] generates one Ed25519 key that is both the agent's TLS client key
// and its manifest signing key: the relay verifies each manifest with the
// key of the certificate the upload came with. Manifests name files by
// [FileID], derived from the anonymised content, so the same content gets
// the same id. After an enrolment with a new key (`dicomgate agent enroll
// --force`), files still waiting in the spool under the old key are
// anonymised and sealed again from their sources before upload
// ([Pipeline.SetSigner]): the relay would refuse the old signature. So
// are files sealed under another anonymisation policy than the one the
// agent applies since a restart ([Pipeline.SetPolicy]), or to other
// recipient keys ([Pipeline.SetRecipients]): a changed policy or recipient
// set applies to every file not yet sent.
//
// # Privacy
//
// Source paths may contain patient names. Nothing in this package logs a
// path or puts one in an error at info level or above; items are named by
// their queue id. Quarantine reason files hold the reason only.
//
// # DICOM network intake
//
// With dicom.listen set, the agent is a C-STORE SCP (package dimse): it
// accepts every storage SOP class in the transfer syntaxes the engine
// handles, from the calling AE titles allowed. Each instance is stored by
// the agent (in its intake journal, or as a Part 10 file under
// spool_dir/received) and becomes an item of the same queue as folder
// intake; the agent's copy is released once the item is committed at the
// relay.
//
// The C-STORE response is sent with success only once the instance is
// durably queued, which means exactly this: its item is in the queue (a
// [Queue.List] sees it at once, the pipeline may claim it) and its Part 10
// bytes are on stable storage, so that after a crash of the process or a
// power cut the agent still delivers it. An instance of up to 4 MiB gets
// there like this before the response:
//
//  1. it is received into memory and appended with one direct write (no
//     copy into the page cache) to the current segment of the intake
//     journal, spool_dir/received/.journal/seg-NNNNNNNN: 32 MiB files
//     whose blocks were all written when created, so that the fdatasync
//     that follows has no file system metadata to commit; the instances
//     finishing at the same time on other associations share it (group
//     commit). The journal record (a header block with a sequence number,
//     length and CRC-32C, then the bytes) is the instance's only copy: no
//     file is created for it;
//  2. while that fdatasync runs, its item is inserted into the queue
//     without an fsync (synchronous=NORMAL), its source pointing at the
//     record (segment, offset, sequence number); the response waits for
//     both. If the flush fails the item is removed again (unless the
//     pipeline already claimed it: it is then delivered from the bytes
//     written, and the sender's retry is a duplicate), and the segment
//     takes no more records until the next start.
//
// The pipeline reads the instance from its record, checking that the
// header still holds its sequence number and that the bytes match their
// CRC-32C. A background checkpoint, every second or after 256 instances,
// commits the queue with a full sync together with the highest journal
// sequence number whose items it covers (cursor scp_journal). A segment is
// reused once a checkpoint covers its records and every item pointing
// into it is committed (or discarded); a quarantined item's instance is
// first copied out to a durable file in spool_dir/received and the item
// pointed at it, so that review and requeue still work. While every
// segment is in use (at most 32, i.e. items waiting for the relay) new
// instances take the file path below. Once such a backlog is committed,
// the journal gives its space back: a free segment beyond the two next
// in line that no instance took for 10 minutes is deleted, leaving what
// a steady intake uses (the current segment, those whose items are still
// in the pipeline, and two spares ready). At start-up, before the pipeline
// runs, every complete journal record above the cursor (header and
// payload checksums verify) whose item is missing is queued again, and an
// item seen whose record above the cursor is not complete (queued while a
// flush the crash cut off ran: never answered) is removed. So a crash or
// power cut after a response loses nothing; an instance made durable whose
// response the crash cut off is queued too, and comes twice if the sender
// sends it again (at least once, never lost). When any step fails, the
// sender gets 0xA700 and nothing of the instance stays, so it keeps its
// copy. Larger instances skip the journal: file (fsync, rename, fsync of
// the folder) and queue insert with a full sync, then the response; the
// file is deleted once committed.
//
// # Quarantine review
//
// With relay.api set, the agent reports each quarantined item (its queue
// id and reason, never a value) to the relay over HTTPS with its enrolled
// client certificate, and every 30 s applies the decisions an operator took
// in the relay's web UI: requeue (processed again, e.g. after the policy was
// fixed) or discard. Reports and decisions are in the relay's audit trail.
//
// # Monitoring
//
// With metrics_listen set, the agent serves Prometheus /metrics (queue
// depth by state, oldest waiting item, files committed, quarantined and
// retried, bytes sent, upload latency, a queue_stuck alert after
// stuck_after), /healthz, /readyz and /status. Labels carry no PHI.
//
// # Imports
//
// agent may import anonymize, policy, seal, transport and dimse. It never
// imports store or relay, and only cmd/dicomgate imports agent.
package agent
