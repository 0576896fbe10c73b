// Package transport moves sealed files from site agents to relays.
//
// It owns the network layer of dicomgate: a QUIC listener and dialer
// (quic-go, TLS 1.3 only, 0-RTT off) with a TLS 1.3 over TCP fallback on the
// same port number, mutual TLS with certificates issued by the relay's own
// [CA], single-use enrolment tokens that pin the relay CA, and the framed
// upload protocol described in docs/protocol.md.
//
// Only the agent, the relay and cmd/dicomgate import this package. It imports
// nothing of ours except seal (types only).
//
// # Server
//
// The relay calls [Listen] with a [ServerConfig] and a [Handler]. Every
// connection must present a client certificate issued by the CA to upload;
// [ServerConfig.Authorize] runs during the TLS handshake, so revoked or unknown
// agents are refused before any stream is opened. The server verifies
// client certificates itself, so that every refusal has a reason
// ([Refusal], passed to [ServerConfig.OnRefused] for the audit trail). A
// connection without a client certificate may only enrol.
//
// # Clocks and renewal
//
// The client checks the relay's certificate at [ClientConfig.Time]; a
// failure due to the time alone is a [*ClockSkewError], and a refusal of
// the agent's own certificate a [*CertificateRefusedError]. [Conn.Clock]
// exchanges clocks ([ServerConfig.OnClock] sees the agent's). [Conn.Renew]
// gets a new certificate over a connection authenticated with the current
// one, from a Handler that implements [Renewer].
//
// # Client
//
// The agent calls [Dial] with a [ClientConfig]. In [ModeAuto] it tries QUIC
// first and falls back to TCP when QUIC does not connect within
// [ClientConfig.QUICTimeout]. [Conn.Upload] sends one file per stream (one
// pooled TLS connection per concurrent upload over TCP) and resumes from the
// offset the relay already holds. A permanent refusal is a [*RejectedError];
// every other error is worth retrying after [Backoff.Next].
//
// # WireGuard
//
// With [ServerConfig.WireGuard] and [ClientConfig.WireGuard] the same QUIC
// (or TCP) connection runs inside a userspace WireGuard tunnel ([Tunnel]:
// wireguard-go over a gVisor network stack, no root, no kernel module). The
// tunnel addresses exist only inside the process; on the host there is only
// the WireGuard UDP socket. [ServerConfig.WireGuardOnly] serves inside the
// tunnel only. A peer whose key is not configured (or added with
// [Tunnel.AddPeer]) gets no answer at all. Keys: [GenerateWireGuardKey].
// [EnrolWireGuard] registers an agent's key at enrolment and returns its
// [WireGuardGrant]; [ServerConfig.EnrolOnly] keeps enrolment reachable on
// the host network for a relay that takes uploads in the tunnel only.
//
// # Enrolment
//
// The relay mints a token with [NewEnrolmentToken] and stores only the hash of
// its secret. The agent runs [Enrol] with that token: the token carries the CA
// fingerprint, so the relay's certificate chain is checked against it before
// the secret is sent.
//
// # Receipts
//
// The relay answers each committed file with a [Receipt] signed with Ed25519
// ([Receipt.Sign], [Receipt.Verify]). The agent deletes its spool copy only on
// receipt.
package transport
