package transport

import (
	"context"
	"crypto/x509"
	"io"
	"net"
)

// Protocol names the transport a connection runs on.
type Protocol string

// Protocols.
const (
	ProtocolQUIC Protocol = "quic"
	ProtocolTCP  Protocol = "tcp"
)

// Peer describes the remote side of a server connection.
type Peer struct {
	// AgentID is the verified agent ID; empty when the client sent no
	// certificate (such a peer may only enrol).
	AgentID string
	// Certificate is the verified agent certificate, nil without one.
	Certificate *x509.Certificate
	// RemoteAddr is the client's address.
	RemoteAddr net.Addr
	// Protocol is the transport the request came over.
	Protocol Protocol
}

// Handler is implemented by the relay. Methods are called concurrently, one
// call per stream. A *RejectedError (also wrapped) is sent to the agent as an
// Error frame with its code and message; any other error is logged here
// without detail and sent as code "internal", which the agent retries.
type Handler interface {
	// Enrol decides an enrolment: check the token by
	// HashEnrolmentSecret(req.Secret[:]) (single use, not expired), assign an
	// agent ID and issue a certificate with CA.IssueClientCert. The proof of
	// possession of req.PublicKey is already verified.
	Enrol(ctx context.Context, req *EnrolRequest) (*EnrolResponse, error)
	// Begin starts or resumes an upload from an authenticated peer. It
	// returns the committed receipt when the file is already committed
	// (idempotent re-send), otherwise the accepted upload, which the
	// server continues with at once: what Begin checked about the peer and
	// the offer holds for its Write.
	Begin(ctx context.Context, peer Peer, offer *Offer) (Upload, *Receipt, error)
}

// Upload is an upload a [Handler] began. The server calls Offset, then
// Write at most once (not when the agent is gone).
type Upload interface {
	// Offset returns the number of bytes already staged (0 <= have <=
	// offer.Size) from which the agent continues.
	Offset() int64
	// Write receives the file bytes Offset()..offer.Size. The relay stages
	// them as they come (so a cut connection resumes from what arrived),
	// and once r returns io.EOF verifies length, hash and manifest, commits,
	// and returns the receipt. r returns another error when the stream is cut
	// or the agent sends more or fewer bytes than offered.
	Write(ctx context.Context, r io.Reader) (*Receipt, error)
}
