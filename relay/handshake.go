package relay

import (
	"context"
	"sync"
	"time"

	"dicomgate/audit"
	"dicomgate/transport"
)

// Limits of the agent.handshake_refused events, so that a flood of bad
// handshakes cannot flood the audit trail: at most one event per
// (certificate fingerprint, reason) per window, and at most
// maxRefusalAudits events per window in all. Every refusal is counted in
// dicomgate_relay_handshakes_refused_total.
const (
	refusalAuditWindow = time.Minute
	maxRefusalAudits   = 60
)

// maxAuditedCommonName bounds the presented common name kept in an event.
const maxAuditedCommonName = 64

// refusalKey identifies a kind of refusal for rate limiting.
type refusalKey struct{ fingerprint, reason string }

// refusalLimiter decides which refused handshakes are audited, in fixed
// windows of refusalAuditWindow.
type refusalLimiter struct {
	mu sync.Mutex
	// +checklocks:mu
	start time.Time // start of the current window
	// +checklocks:mu
	seen map[refusalKey]bool // keys audited in the current window
	// +checklocks:mu
	suppressed int // refusals not audited since the last audited one
}

// allow reports whether a refusal of kind k at now is audited and, if so,
// how many refusals were suppressed since the last audited one.
func (l *refusalLimiter) allow(k refusalKey, now time.Time) (ok bool, suppressed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.seen == nil || now.Sub(l.start) >= refusalAuditWindow || now.Before(l.start) {
		l.start, l.seen = now, map[refusalKey]bool{}
	}
	if l.seen[k] || len(l.seen) >= maxRefusalAudits {
		l.suppressed++
		return false, 0
	}
	l.seen[k] = true
	suppressed, l.suppressed = l.suppressed, 0
	return true, suppressed
}

// handshakeRefused is the transport's OnRefused hook: it counts every
// refused agent certificate and audits agent.handshake_refused within the
// limits above. The presented certificate is untrusted: its common name
// is escaped and cut, and the actor is the agent only when the relay's CA
// vouched for its ID.
func (s *Server) handshakeRefused(ctx context.Context, r transport.Refusal) {
	s.mon.handshakeRefused(r.Reason)
	ip := ""
	if r.RemoteAddr != nil {
		ip = r.RemoteAddr.String()
	}
	ok, suppressed := s.refusals.allow(refusalKey{r.Fingerprint, r.Reason}, s.now())
	if !ok {
		s.log.Debug().Str("reason", r.Reason).Str("ip", ip).Msg("agent certificate refused at handshake (not audited again)")
		return
	}
	s.log.Info().Str("reason", r.Reason).Str("ip", ip).Str("agent_id", r.AgentID).
		Str("proto", string(r.Protocol)).Msg("agent certificate refused at handshake")
	actor := r.AgentID
	if actor == "" {
		actor = "unauthenticated"
	}
	cn := auditSafe(r.CommonName)
	if len(cn) > maxAuditedCommonName {
		cn = cn[:maxAuditedCommonName]
	}
	details := map[string]any{
		"fingerprint": r.Fingerprint, "common_name": cn, "protocol": string(r.Protocol),
		"not_before": r.NotBefore.UTC().Format(time.RFC3339), "not_after": r.NotAfter.UTC().Format(time.RFC3339),
	}
	if suppressed > 0 {
		details["suppressed_since_last"] = suppressed
	}
	s.record(ctx, audit.Event{Actor: actor, Action: audit.ActionAgentHandshakeRefused, Object: r.AgentID,
		IP: ip, Reason: r.Reason, Details: details})
}
