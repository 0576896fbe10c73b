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
//     back in sent and finishing it again finds the source already gone.
//
// Everything else must be durable, and the order matters: a sealed item
// must keep its spool file until committed is durable, because sealing the
// same source again gives other bytes under the same file id, which the
// relay refuses as a conflict. So the spool file is fsynced, renamed and
// its folder fsynced before seen → sealed (MarkProcessed, one transaction
// where there were two), and it is removed only after sealed → committed
// (MarkSentCommitted, one transaction where there were two, when the
// source is kept) or sent → committed; a crash in between leaves a spool
// file that the next Run removes. Any synchronous commit also makes the
// earlier unsynchronised ones durable.
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
// the same id.
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
// handles, from the calling AE titles allowed. Each instance becomes a
// Part 10 file under spool_dir/received and an item of the same queue as
// folder intake; the agent's copy is deleted once committed at the relay.
//
// The C-STORE response is sent with success only once the instance is
// durably queued, which means exactly this: its item is in the queue (a
// [Queue.List] sees it at once, the pipeline may claim it) and its Part 10
// bytes are on stable storage, so that after a crash of the process or a
// power cut the agent still delivers it. An instance of up to 4 MiB gets
// there in three steps before the response:
//
//  1. it is received into memory and written with one direct write (no
//     copy into the page cache) into the intake journal,
//     spool_dir/received/.journal/intake, a preallocated 64 MiB ring,
//     followed by an fdatasync that the instances finishing at the same
//     time on other associations share (group commit); meanwhile it is
//     written into a temporary file created ahead of it;
//  2. once the journal record is durable the temporary file is renamed to
//     its received name;
//  3. its item is committed to the queue without an fsync
//     (synchronous=NORMAL).
//
// A background checkpoint, every second or after 256 instances or half
// the journal, fsyncs the received files and the received folder, then
// commits the queue with a full sync together with the highest journal
// sequence number covered (cursor scp_journal); only then are those
// records freed. At start-up, before the pipeline runs, every complete
// journal record above the cursor (its header and payload checksums
// verify) is replayed: an instance without an item is written again and
// queued, one whose item still waits gets its file back if the file
// differs, the others were processed further. So a crash or power cut
// after a response loses nothing; an instance made durable whose
// response the crash cut off is queued too, and comes twice if the sender
// sends it again (at least once, never lost). When the journal is full
// (checkpoints failing) or any step fails, the sender gets 0xA700 and
// nothing of the instance stays, so it keeps its copy. Larger instances
// skip the journal: file (fsync, rename, fsync of the folder) and queue
// insert with a full sync, then the response.
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
