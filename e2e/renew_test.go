package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"dicomgate/agent"
	"dicomgate/audit"
	"dicomgate/internal/dicomtest"
	"dicomgate/transport"
)

// agentCertificate reads the agent's current certificate from its
// identity folder.
func (s *site) agentCertificate() (notAfter time.Time, serial string) {
	s.t.Helper()
	data, err := os.ReadFile(filepath.Join(s.dir, "agent", "identity", agent.IdentityCertFile))
	if err != nil {
		s.t.Fatal(err)
	}
	c, err := transport.ParseCertificatePEM(data)
	if err != nil {
		s.t.Fatal(err)
	}
	return c.NotAfter, c.SerialNumber.String()
}

// TestCertRenewal: the relay issues agent certificates for 20 s
// (agent_cert_validity); the agent renews its own over its connection a
// third of the lifetime before expiry, again and again, and keeps sending
// across the original expiry: half the files before it, half after,
// every one committed exactly once and verified. Each renewal is audited
// (agent.cert_renewed) and no handshake is refused.
func TestCertRenewal(t *testing.T) {
	lifetime := time.Duration(envInt("DICOMGATE_RENEW_LIFETIME_S", 20)) * time.Second
	s := newSite(t, fmt.Sprintf("agent_cert_validity: %s\n", lifetime))
	s.startRelay()
	defer func() { kill9(s.relay) }()
	s.enrol()
	firstExpiry, firstSerial := s.agentCertificate()
	key := s.generate(71, dicomtest.CorpusOptions{Patients: envInt("DICOMGATE_RENEW_PATIENTS", 2), Slices: 5, NoExtras: true})
	half := len(key.Files) / 2
	first, second := *key, *key
	first.Files, second.Files = key.Files[:half], key.Files[half:]
	s.startAgent()
	defer func() { kill9(s.agent) }()
	s.drop(&first)
	// Wait past the original certificate's expiry (by the certificate,
	// not a guess), then send the rest.
	time.Sleep(time.Until(firstExpiry) + time.Second)
	s.drop(&second)
	o := s.checkInvariants(3*time.Minute, s.fsObjects)

	expiry, serial := s.agentCertificate()
	if serial == firstSerial || !expiry.After(firstExpiry) {
		t.Errorf("agent.crt still the enrolment certificate (serial %s, until %s)", serial, expiry)
	}
	renewals := s.auditEvents(audit.ActionAgentCertRenewed)
	if len(renewals) == 0 {
		t.Fatal("no agent.cert_renewed event")
	}
	if n := len(s.auditEvents(audit.ActionAgentHandshakeRefused)); n != 0 {
		t.Errorf("%d handshakes refused during renewals", n)
	}
	summary(t, "cert-renewal", o, fmt.Sprintf("lifetime=%s renewals=%d crossed_original_expiry=yes", lifetime, len(renewals)))
}

// TestExpiredCertificateRefused: an agent whose certificate has already
// expired (the relay issued it for 2 s) is refused at the handshake. The
// agent logs one clear error telling the operator to re-enrol, the relay
// audits agent.handshake_refused with reason certificate_expired, nothing
// is stored and every file stays queued (none lost, none quarantined).
func TestExpiredCertificateRefused(t *testing.T) {
	s := newSite(t, "agent_cert_validity: 2s\n")
	s.startRelay()
	defer func() { kill9(s.relay) }()
	s.enrol()
	notAfter, _ := s.agentCertificate()
	key := s.generate(81, dicomtest.CorpusOptions{Patients: 1, Slices: 4, NoExtras: true})
	time.Sleep(time.Until(notAfter) + time.Second)
	s.startAgent()
	defer func() { kill9(s.agent) }()
	s.drop(key)
	s.waitLog(time.Minute, `"level":"error"`, "re-enrol")
	retries := 0
	for retries < 3 {
		retries = s.waitLog(time.Minute, "step failed; will retry", "re-enrol")
		time.Sleep(200 * time.Millisecond)
	}
	if n := s.waitLog(time.Second, `"level":"error"`, "cannot connect to the relay"); n != 1 {
		t.Errorf("refusal logged at error level %d times over %d retries, want once", n, retries)
	}
	ev := s.auditEvents(audit.ActionAgentHandshakeRefused)
	if len(ev) == 0 || ev[0].Reason != transport.RefusedExpired || ev[0].IP == "" {
		t.Fatalf("agent.handshake_refused events %+v, want reason %s with the address", ev, transport.RefusedExpired)
	}
	if got, err := committedFiles(context.Background(), s.client()); err != nil || len(got) != 0 {
		t.Fatalf("%d files committed with an expired certificate (err %v)", len(got), err)
	}
	sealed, conflicts, _ := s.fsObjects(context.Background())
	counts, pending := s.queueCounts()
	if pending != s.inputs-s.quarantine || counts[agent.StateQuarantined] != s.quarantine || sealed+conflicts != 0 {
		t.Fatalf("queue %v, %d pending, %d objects: want every file queued, none quarantined, nothing stored", counts, pending, sealed+conflicts)
	}
	t.Logf("expired-cert summary: refused=yes reason=%s audited=%d error_lines=1 retries=%d queued=%d stored=0",
		ev[0].Reason, len(ev), retries, pending)
}
