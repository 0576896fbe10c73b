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
// but two kinds of write that commit without one (synchronous=NORMAL in
// WAL mode: a power cut may roll back the last of them, never corrupt the
// database; a crash of the process loses nothing, the WAL being in the
// kernel's cache):
//
//   - leases (Claim): every open releases all leases anyway;
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
// handles, from the calling AE titles allowed. Each instance is written as
// a Part 10 file under spool_dir/received (temporary name, fsync, rename,
// fsync of the folder) and queued before the C-STORE response is sent, so a
// success means the instance is durable; the agent's copy is deleted once
// committed at the relay.
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
