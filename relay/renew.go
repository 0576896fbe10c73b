package relay

import (
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"dicomgate/audit"
	"dicomgate/transport"
)

var _ transport.Renewer = handler{}

// Renew implements transport.Renewer: an enrolled, not revoked agent gets
// a new certificate for the key it enrolled with, valid for
// Config.AgentCertValidity. The key stays: it also signs the agent's
// manifests, which the relay and the core labs verify against the one key
// recorded for the agent, so sealed files waiting in the agent's spool
// still verify after a renewal. The agent record keeps the key and takes
// the new serial; any unexpired certificate of the CA for that agent and
// key keeps working, so an agent that crashed before saving the new
// certificate still connects with the old one and renews again.
func (h handler) Renew(ctx context.Context, peer transport.Peer, req *transport.RenewRequest) (*transport.RenewResponse, error) {
	s := h.s
	res, err := s.resources()
	if err != nil {
		return nil, reject(transport.CodeUnavailable, "relay not ready")
	}
	a, err := s.enrolledAgent(ctx, peer.AgentID, peer.Certificate)
	switch {
	case errors.Is(err, errAgentUnknown), errors.Is(err, errAgentRevoked), errors.Is(err, errAgentCert):
		s.record(ctx, audit.Event{Actor: peer.AgentID, Action: audit.ActionAccessDenied, Object: peer.AgentID,
			IP: peer.RemoteAddr.String(), Reason: "certificate renewal refused: agent unknown or revoked"})
		return nil, reject(transport.CodeRenewalRefused, "agent not authorized")
	case err != nil:
		return nil, err
	}
	pub, ok := req.PublicKey.(ed25519.PublicKey)
	if !ok || !pub.Equal(ed25519.PublicKey(a.PublicKey)) {
		s.record(ctx, audit.Event{Actor: a.ID, Action: audit.ActionAccessDenied, Project: a.Project, Object: a.ID,
			IP: peer.RemoteAddr.String(), Reason: "certificate renewal refused: another key than the enrolled one"})
		return nil, reject(transport.CodeRenewalRefused, "renewal keeps the enrolled key")
	}
	der, err := res.ca.IssueClientCert(pub, a.ID, s.cfg.AgentCertValidity)
	if err != nil {
		return nil, fmt.Errorf("relay: renew: issue certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("relay: renew: parse certificate: %w", err)
	}
	old := a.CertSerial
	a.CertSerial = cert.SerialNumber.String()
	if err := res.db.PutAgent(ctx, *a); err != nil {
		return nil, fmt.Errorf("relay: renew: record agent: %w", err)
	}
	s.mon.renewed.Inc()
	s.log.Info().Str("agent_id", a.ID).Time("not_after", cert.NotAfter).Msg("agent certificate renewed")
	s.record(ctx, audit.Event{Actor: a.ID, Action: audit.ActionAgentCertRenewed, Project: a.Project, Object: a.ID,
		IP: peer.RemoteAddr.String(), Details: map[string]any{"site": a.Site, "key_id": transport.KeyID(pub),
			"old_cert_serial": old, "cert_serial": a.CertSerial,
			"old_not_after": peer.Certificate.NotAfter.UTC().Format(time.RFC3339),
			"not_after":     cert.NotAfter.UTC().Format(time.RFC3339)}})
	return &transport.RenewResponse{CertChain: [][]byte{der}}, nil
}
