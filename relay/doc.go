// Package relay is the dicomgate relay: it receives sealed files from
// enrolled site agents, verifies and commits them to an object store, and
// serves them (still sealed) to core labs over an HTTPS API. The relay never
// holds a recipient key: it stores and serves ciphertext it cannot read.
//
// relay may import transport, store, audit, policy and seal; it never imports
// agent or anonymize (DESIGN.md). Only cmd/dicomgate imports relay.
//
// # Server
//
// [New] checks a [Config] (see [Load] and configs/relay.yaml); [Server.Open]
// loads or creates the relay CA and the receipt signing key in the data
// directory and opens the object store and the metadata database;
// [Server.Run] serves the upload protocol (QUIC and TLS over TCP, mutual TLS)
// and the HTTPS API until its context ends, then shuts down gracefully.
//
// # Enrolment
//
// [Server.CreateEnrolmentToken] mints a single-use, expiring token for one
// project and site; only its hash is stored. An agent redeems it with
// transport.Enrol and gets a client certificate for its Ed25519 key. That
// same key signs the agent's manifests: the relay verifies every manifest
// with the public key of the certificate the upload came in on.
// [Server.RevokeAgent] refuses an agent from its next handshake on.
//
// An agent that enrols with a WireGuard key (transport.EnrolWireGuard) gets
// a tunnel address from wireguard.agent_prefix; its peer is kept in the
// metadata database, added to the running tunnel, restored at every start
// and removed at revocation. With listen_mode wireguard, Config.Listen
// serves enrolment only ([Server.EnrolAddr]) and uploads are taken inside
// the tunnel only (docs/protocol.md).
//
// # Uploads
//
// For every offer the relay opens the signed manifest with the peer's key,
// checks project, site and agent against the enrolment, the policy hash
// against the project's approved hashes, and the offered size and SHA-256
// against the manifest. It stages the bytes under data_dir/staging (fsynced,
// so a cut upload resumes), hashing while it stages, verifies length and
// hash, and commits the sealed object under a key made only of
// pseudonymous identifiers, with one PUT:
//
//	projects/<project>/studies/<study uid>/series/<series uid>/<sop instance uid>.<file id>.dgseal
//	projects/<project>/studies/<study uid>/series/<series uid>/<sop instance uid>.<file id>.manifest
//
// The signed manifest is kept in the file record of the metadata database
// (the API serves it from there); the .manifest object is written only
// with store.manifest_objects: true.
//
// A re-sent file is answered with its stored receipt. A different file for
// an instance UID already committed is a conflict: it is kept under
// conflicts/<project>/<sop instance uid>/<file id>.{dgseal,manifest}, recorded,
// and refused with code [CodeConflict]; the original is never overwritten.
//
// # HTTPS API
//
// Core labs authenticate with a bearer token (see [Authenticator],
// [NewReaderToken]); every object download is recorded. Endpoints (JSON,
// errors as {"code": ..., "error": ...}):
//
//	GET /healthz                                    no authentication
//	GET /api/v1/projects/{project}/studies          []StudyInfo
//	GET /api/v1/projects/{project}/studies/{study}/files  []FileInfo
//	GET /api/v1/projects/{project}/agents           []AgentInfo (manifest signing keys)
//	GET /api/v1/files/{file}/manifest               the signed manifest envelope
//	GET /api/v1/files/{file}/object                 the sealed file; Range: bytes=N- resumes
//	GET /api/v1/projects/{project}/studies/{study}/imagingstudy  FHIR R4 ImagingStudy (pseudonymous)
//	GET /metrics, /readyz                           Prometheus metrics, readiness (no PHI in labels)
//
// 401 means no or an unknown token, 403 a project the caller may not read
// (audited as access.denied), 404 an unknown project, study or file (files
// of other projects are 404 too). Every route declares its permission in
// one table (session_routes.go), checked against the caller's roles.
//
// # Accounts, signatures and the web UI
//
// People sign in to the web UI (server-rendered, embedded, HTTPS only) with
// accounts kept in the metadata database: argon2id passwords with
// complexity, denylist, history and ageing rules, temporary passwords that
// must be changed first, lockout, TOTP, one live session per account and an
// inactivity timeout; roles (admin, site operator, core-lab reader,
// auditor) are granted per project. Policy approval, study release and
// audit export are electronic signatures (21 CFR 11.50/11.70/11.200): the
// password again, a meaning, the printed name and UTC time, bound to the
// SHA-256 of the signed record. Uploads are accepted only under policy
// versions approved for the project. docs/part11.md maps each Part 11
// requirement to the feature and the test that proves it.
//
// # Audit trail
//
// Every login, account change, enrolment, revocation, policy change, file
// received, committed, rejected or in conflict, download, export and
// refused request is appended to the audit trail (package audit) in the
// metadata database, with checkpoints signed by the relay's key every 100
// events, every 5 minutes and at shutdown. No PHI goes in: pseudonymous
// UIDs, file IDs, agent IDs, user names and codes only.
//
// # Fetch
//
// [Fetch] downloads, verifies and decrypts a project's (or one study's) files
// with a [Client]. A manifest must be signed by an enrolled agent of the
// project: by default the agent keys the relay lists on the agents endpoint
// (the relay's HTTPS identity is pinned by its CA fingerprint), or only the
// keys in [FetchOptions.TrustedAgents] when set. The ciphertext must match
// the manifest's size and SHA-256, and the plaintext its SHA-256, before a
// file is renamed into place; partial downloads resume from a .part file.
package relay
