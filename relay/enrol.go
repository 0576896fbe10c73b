package relay

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"dicomgate/audit"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"dicomgate/store"
	"dicomgate/transport"
)

// handler implements transport.Handler for a Server.
type handler struct{ s *Server }

var _ transport.Handler = handler{}

// CreateEnrolmentToken mints a single-use enrolment token for an agent of
// site in project, valid for Config.EnrolmentTokenTTL. Only the hash of its
// secret is stored. The token is a secret for the site operator: never log
// it. It needs [Server.Open].
func (s *Server) CreateEnrolmentToken(ctx context.Context, project, site string) (string, error) {
	res, err := s.resources()
	if err != nil {
		return "", err
	}
	if s.cfg.project(project) == nil {
		return "", fmt.Errorf("relay: create enrolment token: %w", ErrUnknownProject)
	}
	if !validSite(site) {
		return "", errors.New("relay: create enrolment token: site must be 1..64 characters of [A-Za-z0-9._-]")
	}
	token, hash, err := transport.NewEnrolmentToken(res.ca.Fingerprint())
	if err != nil {
		return "", fmt.Errorf("relay: create enrolment token: %w", err)
	}
	err = res.db.CreateEnrolmentToken(ctx, store.EnrolmentToken{
		Hash:      hex.EncodeToString(hash[:]),
		Project:   project,
		Site:      site,
		ExpiresAt: time.Now().Add(s.cfg.EnrolmentTokenTTL),
		CreatedBy: "cli",
	})
	if err != nil {
		return "", fmt.Errorf("relay: create enrolment token: %w", err)
	}
	s.log.Info().Str("project", project).Str("site", site).Msg("enrolment token created")
	return token, nil
}

// RevokeAgent revokes an agent: its next handshake is refused, and so are
// its uploads on connections already open. Revocation is final. An unknown
// agent fails with an error wrapping store.ErrNotExist. Audited with actor
// "admin"; see [Server.RevokeAgentAs].
func (s *Server) RevokeAgent(ctx context.Context, agentID string) error {
	return s.RevokeAgentAs(ctx, "admin", "", agentID)
}

// RevokeAgentAs is [Server.RevokeAgent] audited (agent.revoke) with actor
// and the caller's ip ("" when none: the CLI).
func (s *Server) RevokeAgentAs(ctx context.Context, actor, ip, agentID string) error {
	res, err := s.resources()
	if err != nil {
		return err
	}
	a, err := res.db.GetAgent(ctx, agentID)
	if err != nil {
		return fmt.Errorf("relay: revoke agent %s: %w", agentID, err)
	}
	if err := res.db.RevokeAgent(ctx, agentID, s.now()); err != nil {
		return fmt.Errorf("relay: revoke agent %s: %w", agentID, err)
	}
	details := s.dropTunnelPeer(ctx, res, agentID)
	s.log.Info().Str("agent_id", agentID).Msg("agent revoked")
	s.record(ctx, audit.Event{Actor: actor, Action: audit.ActionAgentRevoke, Project: a.Project, Object: agentID,
		IP: ip, Details: details})
	return nil
}

// ListAgents returns the enrolled agents of project (every agent when
// project is ""), revoked ones included, ordered by ID.
func (s *Server) ListAgents(ctx context.Context, project string) ([]store.Agent, error) {
	res, err := s.resources()
	if err != nil {
		return nil, err
	}
	list, err := res.db.ListAgents(ctx, project)
	if err != nil {
		return nil, fmt.Errorf("relay: list agents: %w", err)
	}
	return list, nil
}

// dropTunnelPeer removes a revoked agent's WireGuard peer from the
// database and the live tunnel, and returns the audit details saying so
// (nil when it had none). A failure is logged: the agent is revoked
// already, so its handshakes fail whatever the tunnel lets through.
func (s *Server) dropTunnelPeer(ctx context.Context, res *resources, agentID string) map[string]any {
	wp, err := s.tunnelPeers().drop(ctx, res.db, agentID)
	if err != nil {
		s.log.Error().Err(err).Str("agent_id", agentID).Msg("revoked agent's wireguard peer not removed")
	}
	if wp == nil {
		return nil
	}
	return wireGuardDetails(*wp, map[string]any{"wireguard_peer": "removed"})
}

// Enrol implements transport.Handler: it redeems the token, assigns an
// agent ID, certifies the agent's Ed25519 key and records the agent.
func (h handler) Enrol(ctx context.Context, req *transport.EnrolRequest) (*transport.EnrolResponse, error) {
	s := h.s
	res, err := s.resources()
	if err != nil {
		return nil, reject(transport.CodeUnavailable, "relay not ready")
	}
	pub, ok := req.PublicKey.(ed25519.PublicKey)
	if !ok {
		// The key signs manifests too, and manifests are Ed25519 only.
		return nil, reject(transport.CodeEnrolmentRefused, "agent key must be ed25519")
	}
	// Refusals that depend only on the request come before the token is
	// used, so the site can retry with the same token.
	peers := s.tunnelPeers()
	if rej := s.checkWireGuardEnrol(ctx, res, peers, req.WireGuardKey); rej != nil {
		return nil, rej
	}
	hash := transport.HashEnrolmentSecret(req.Secret[:])
	tok, err := res.db.RedeemEnrolmentToken(ctx, hex.EncodeToString(hash[:]), time.Now())
	if errors.Is(err, store.ErrTokenInvalid) {
		s.log.Info().Msg("enrolment refused: token unknown, used or expired")
		s.record(ctx, audit.Event{Actor: "unenrolled-agent", Action: audit.ActionAccessDenied,
			Reason: "enrolment token unknown, used or expired", Details: map[string]any{"key_id": transport.KeyID(pub)}})
		return nil, reject(transport.CodeEnrolmentRefused, "enrolment token unknown, used or expired")
	}
	if err != nil {
		return nil, fmt.Errorf("relay: enrol: %w", err)
	}
	if s.cfg.project(tok.Project) == nil {
		return nil, reject(transport.CodeEnrolmentRefused, "project no longer served by this relay")
	}
	id, err := newAgentID(tok.Site)
	if err != nil {
		return nil, err
	}
	der, err := res.ca.IssueClientCert(pub, id, s.cfg.AgentCertValidity)
	if err != nil {
		return nil, fmt.Errorf("relay: enrol: issue certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("relay: enrol: parse certificate: %w", err)
	}
	err = res.db.PutAgent(ctx, store.Agent{
		ID:         id,
		Project:    tok.Project,
		Site:       tok.Site,
		CertSerial: cert.SerialNumber.String(),
		PublicKey:  append([]byte(nil), pub...),
		EnrolledAt: time.Now(),
	})
	if err != nil {
		return nil, fmt.Errorf("relay: enrol: record agent: %w", err)
	}
	details := map[string]any{"key_id": transport.KeyID(pub), "cert_serial": cert.SerialNumber.String()}
	var grant *transport.WireGuardGrant
	if !req.WireGuardKey.IsZero() {
		grant, err = peers.admit(ctx, res.db, id, req.WireGuardKey)
		if err != nil {
			// Half an enrolment must not stay usable: revoke the agent.
			if rerr := res.db.RevokeAgent(context.WithoutCancel(ctx), id, time.Now()); rerr != nil {
				s.log.Error().Err(rerr).Str("agent_id", id).Msg("agent without a tunnel address not revoked")
			}
			switch {
			case errors.Is(err, errTunnelFull):
				s.log.Error().Str("agent_id", id).Msg("enrolment refused: wireguard.agent_prefix is full")
				return nil, reject(transport.CodeEnrolmentRefused, "no free tunnel address: tell the relay admin")
			case errors.Is(err, errKeyTaken):
				return nil, reject(transport.CodeEnrolmentRefused, "this wireguard key is registered to another agent: use a new key")
			}
			return nil, fmt.Errorf("relay: enrol: %w", err)
		}
		details = wireGuardDetails(store.WireGuardPeer{PublicKey: req.WireGuardKey[:], TunnelIP: grant.Address}, details)
	}
	s.log.Info().Str("agent_id", id).Str("project", tok.Project).Str("site", tok.Site).
		Str("key_id", transport.KeyID(pub)).Bool("wireguard", grant != nil).Msg("agent enrolled")
	s.record(ctx, audit.Event{Actor: id, Action: audit.ActionAgentEnrol, Project: tok.Project, Object: tok.Site,
		Details: details})
	return &transport.EnrolResponse{
		AgentID:   id,
		CertChain: [][]byte{der},
		CACert:    res.ca.Certificate().Raw,
		WireGuard: grant,
	}, nil
}

// checkWireGuardEnrol refuses an enrolment that cannot give the agent a
// working path: a WireGuard key where the relay runs no tunnel, none where
// it serves uploads in the tunnel only, or a key another agent holds.
func (s *Server) checkWireGuardEnrol(ctx context.Context, res *resources, peers *tunnelPeers, key transport.WireGuardKey) error {
	switch {
	case key.IsZero() && s.cfg.ListenMode == "wireguard":
		return reject(transport.CodeEnrolmentRefused,
			"this relay takes uploads inside its wireguard tunnel only: enrol with a wireguard section in agent.yaml")
	case key.IsZero():
		return nil
	case peers == nil:
		return reject(transport.CodeEnrolmentRefused, "this relay runs no wireguard tunnel: remove the wireguard section from agent.yaml")
	}
	taken, err := keyTaken(ctx, res.db, key)
	if err != nil {
		return fmt.Errorf("relay: enrol: %w", err)
	}
	if taken {
		return reject(transport.CodeEnrolmentRefused, "this wireguard key is registered to another agent: use a new key")
	}
	return nil
}

// newAgentID returns "<site>-<16 random hex digits>", at most 64 characters.
func newAgentID(site string) (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("relay: agent id: %w", err)
	}
	prefix := site
	if len(prefix) > 40 {
		prefix = prefix[:40]
	}
	id := prefix + "-" + hex.EncodeToString(b[:])
	if err := transport.ValidateAgentID(id); err != nil {
		return "", fmt.Errorf("relay: agent id: %w", err)
	}
	return id, nil
}

// authorize is the transport handshake hook: the agent must be enrolled,
// not revoked, and present a certificate for the key it enrolled with.
// The refusal's code is the reason the transport reports to
// handshakeRefused, which audits it.
func (s *Server) authorize(ctx context.Context, agentID string, cert *x509.Certificate) error {
	_, err := s.enrolledAgent(ctx, agentID, cert)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, errAgentRevoked):
		return reject(transport.RefusedRevoked, "agent revoked")
	case errors.Is(err, errAgentUnknown), errors.Is(err, errAgentCert):
		return reject(transport.RefusedUnknownAgent, "agent not enrolled with this key")
	}
	s.log.Warn().Err(err).Str("agent_id", agentID).Msg("agent check failed at handshake")
	return err
}

var (
	errAgentUnknown = errors.New("relay: agent not enrolled")
	errAgentRevoked = errors.New("relay: agent revoked")
	errAgentCert    = errors.New("relay: agent certificate is for another key than its enrolment")
)

// enrolledAgent returns the agent record of a verified certificate, or an
// error when the agent is unknown, revoked or presents another key than
// it enrolled with. Any certificate the CA issued for the agent and its
// key is accepted, not only the latest: renewal (renew.go) keeps the key,
// and an agent that crashed before saving its renewed certificate must
// still get in with the old one until it expires.
func (s *Server) enrolledAgent(ctx context.Context, agentID string, cert *x509.Certificate) (*store.Agent, error) {
	res, err := s.resources()
	if err != nil {
		return nil, err
	}
	a, err := res.db.GetAgent(ctx, agentID)
	if errors.Is(err, store.ErrNotExist) {
		return nil, errAgentUnknown
	}
	if err != nil {
		return nil, fmt.Errorf("relay: get agent: %w", err)
	}
	if a.Revoked {
		return nil, errAgentRevoked
	}
	pub, ok := cert.PublicKey.(ed25519.PublicKey)
	if !ok || !pub.Equal(ed25519.PublicKey(a.PublicKey)) {
		return nil, errAgentCert
	}
	return a, nil
}
