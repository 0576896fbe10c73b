package transport

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/quic-go/quic-go"
)

// Reasons for refusing an agent certificate at the handshake, in
// [Refusal.Reason]. [ServerConfig.Authorize] may add its own by returning
// a *RejectedError whose Code is the reason.
const (
	// RefusedExpired: the certificate's NotAfter is past (relay's clock).
	RefusedExpired = "certificate_expired"
	// RefusedNotYetValid: the certificate's NotBefore is ahead of the
	// relay's clock.
	RefusedNotYetValid = "certificate_not_yet_valid"
	// RefusedUnknownCA: the certificate does not chain to the relay's CA.
	RefusedUnknownCA = "unknown_ca"
	// RefusedBadCertificate: not an agent certificate (usage, agent ID,
	// malformed chain).
	RefusedBadCertificate = "bad_certificate"
	// RefusedRevoked: the agent was revoked (Authorize).
	RefusedRevoked = "agent_revoked"
	// RefusedUnknownAgent: the CA certified it, but the relay has no such
	// agent, or another key for it (Authorize).
	RefusedUnknownAgent = "agent_unknown"
	// RefusedNotAuthorized: Authorize refused without a reason code.
	RefusedNotAuthorized = "not_authorized"
)

// Refusal describes an agent certificate refused at the handshake, for
// [ServerConfig.OnRefused]. The certificate is the peer's claim, not
// verified: CommonName and AgentID may hold anything and must be escaped
// before they are shown or stored.
type Refusal struct {
	// Reason is one of the Refused constants or an Authorize code.
	Reason string
	// Fingerprint is the lowercase hex SHA-256 of the presented leaf.
	Fingerprint string
	// CommonName is the leaf's subject common name, as presented.
	CommonName string
	// AgentID is the agent ID of a certificate that chained to the CA,
	// empty otherwise.
	AgentID string
	// NotBefore and NotAfter are the leaf's validity, as presented.
	NotBefore, NotAfter time.Time
	// RemoteAddr is the client's address (nil if unknown).
	RemoteAddr net.Addr
	// Protocol is the transport the handshake came over.
	Protocol Protocol
	// Err is the verification error, for logs.
	Err error
}

func newRefusal(leaf *x509.Certificate) *Refusal {
	return &Refusal{Fingerprint: Fingerprint(leaf), CommonName: leaf.Subject.CommonName,
		NotBefore: leaf.NotBefore, NotAfter: leaf.NotAfter}
}

// chainRefusalReason classifies a chain verification error at now.
func chainRefusalReason(err error, now time.Time) string {
	var ua x509.UnknownAuthorityError
	if errors.As(err, &ua) {
		return RefusedUnknownCA
	}
	var inv x509.CertificateInvalidError
	if errors.As(err, &inv) && inv.Reason == x509.Expired && inv.Cert != nil {
		if now.Before(inv.Cert.NotBefore) {
			return RefusedNotYetValid
		}
		return RefusedExpired
	}
	return RefusedBadCertificate
}

// CertificateRefusedError is returned by Dial when the relay refused the
// agent's certificate at the handshake. TLS carries no reason beyond an
// alert (the relay audits the real one), so Reason is this side's
// diagnosis from the certificate's validity at its own clock:
// [RefusedExpired] (re-enrol), [RefusedNotYetValid] (clock skew) or
// [RefusedNotAuthorized] (revoked, unknown, another relay's CA).
type CertificateRefusedError struct {
	// Reason is the local diagnosis.
	Reason string
	// Now is this machine's clock; NotBefore and NotAfter the
	// certificate's validity (zero without a certificate).
	Now, NotBefore, NotAfter time.Time
	// Err is the handshake error.
	Err error
}

// Error says what the operator must do.
func (e *CertificateRefusedError) Error() string {
	now := e.Now.UTC().Format(time.RFC3339)
	switch e.Reason {
	case RefusedExpired:
		return fmt.Sprintf("transport: the relay refused the agent certificate: it expired at %s (this machine's clock reads %s): "+
			"re-enrol the agent with a new token (dicomgate agent enroll --force)", e.NotAfter.UTC().Format(time.RFC3339), now)
	case RefusedNotYetValid:
		return fmt.Sprintf("transport: clock skew: the relay refused the agent certificate, valid only from %s, and this machine's clock reads %s: "+
			"correct the system time (NTP)", e.NotBefore.UTC().Format(time.RFC3339), now)
	}
	return "transport: the relay refused the agent certificate (revoked, unknown to this relay or issued by another relay's CA): " +
		"ask the relay operator; re-enrol the agent if it was revoked"
}

// Unwrap returns the handshake error.
func (e *CertificateRefusedError) Unwrap() error { return e.Err }

// certificateAlerts are the TLS alerts a relay sends when it refuses a
// client certificate.
var certificateAlerts = []tls.AlertError{42, 43, 44, 45, 46, 48, 116} // bad, unsupported, revoked, expired, unknown, unknown CA, required

// refusedCertificate reports whether err is the relay's alert refusing
// this side's certificate, over QUIC or TCP.
func refusedCertificate(err error) bool {
	var te *quic.TransportError
	if errors.As(err, &te) && te.Remote && te.ErrorCode.IsCryptoError() {
		for _, a := range certificateAlerts {
			if te.ErrorCode == quic.TransportErrorCode(0x100+uint64(a)) {
				return true
			}
		}
		return false
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "remote error" && oe.Err != nil {
		for _, a := range certificateAlerts {
			if oe.Err.Error() == a.Error() {
				return true
			}
		}
	}
	return false
}

// certificateRefusal turns a relay's refusal of our certificate into a
// *CertificateRefusedError; other errors are returned as they are.
func (cfg *ClientConfig) certificateRefusal(err error) error {
	if err == nil || !refusedCertificate(err) {
		return err
	}
	e := &CertificateRefusedError{Reason: RefusedNotAuthorized, Now: cfg.now(), Err: err}
	if leaf := cfg.leaf(); leaf != nil {
		e.NotBefore, e.NotAfter = leaf.NotBefore, leaf.NotAfter
		switch {
		case e.Now.After(leaf.NotAfter):
			e.Reason = RefusedExpired
		case e.Now.Before(leaf.NotBefore):
			e.Reason = RefusedNotYetValid
		}
	}
	return e
}

// leaf returns the client certificate's leaf, or nil.
func (cfg *ClientConfig) leaf() *x509.Certificate {
	cert := &cfg.Certificate
	if cfg.GetCertificate != nil {
		c, err := cfg.GetCertificate()
		if err != nil || c == nil {
			return nil
		}
		cert = c
	}
	if cert.Leaf != nil {
		return cert.Leaf
	}
	if len(cert.Certificate) == 0 {
		return nil
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return nil
	}
	return leaf
}
