package relay

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"testing"
	"time"

	"dicomgate/audit"
	"dicomgate/transport"
)

// auditEntries returns the audit entries matching f.
func (e *env) auditEntries(t *testing.T, f audit.Filter) []audit.Entry {
	t.Helper()
	res, err := e.srv.resources()
	if err != nil {
		t.Fatal(err)
	}
	var out []audit.Entry
	for en, err := range res.audit.Query(context.Background(), f) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, en)
	}
	return out
}

// metric returns one sample of the relay's /metrics, 0 when absent.
func (e *env) metric(t *testing.T, sample string) float64 {
	t.Helper()
	_, body := e.apiGet(t, "/metrics", "")
	return metricSamples(t, string(body))[sample]
}

// TestRefusalLimiter: one audited refusal per (fingerprint, reason) per
// window, at most maxRefusalAudits per window in all; the next audited
// one says how many were suppressed.
func TestRefusalLimiter(t *testing.T) {
	var l refusalLimiter
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	k := refusalKey{"aa", transport.RefusedExpired}
	if ok, _ := l.allow(k, t0); !ok {
		t.Fatal("first refusal not audited")
	}
	for i := range 5 {
		if ok, _ := l.allow(k, t0.Add(time.Duration(i)*time.Second)); ok {
			t.Fatal("same refusal audited twice in a window")
		}
	}
	if ok, n := l.allow(refusalKey{"aa", transport.RefusedRevoked}, t0.Add(time.Second)); !ok || n != 5 {
		t.Fatalf("other reason: audited %v, suppressed %d, want true, 5", ok, n)
	}
	if ok, _ := l.allow(k, t0.Add(refusalAuditWindow)); !ok {
		t.Fatal("refusal not audited again in the next window")
	}
	// A flood of distinct certificates: the window's budget caps it.
	t1 := t0.Add(10 * refusalAuditWindow)
	audited := 0
	for i := range 3 * maxRefusalAudits {
		if ok, _ := l.allow(refusalKey{fmt.Sprint(i), transport.RefusedUnknownCA}, t1); ok {
			audited++
		}
	}
	if audited != maxRefusalAudits {
		t.Fatalf("%d of a flood audited in one window, want %d", audited, maxRefusalAudits)
	}
	if ok, n := l.allow(refusalKey{"late", transport.RefusedUnknownCA}, t1.Add(refusalAuditWindow)); !ok || n != 2*maxRefusalAudits {
		t.Fatalf("next window: audited %v, suppressed %d, want true, %d", ok, n, 2*maxRefusalAudits)
	}
}

// TestHandshakeRefusalsAudited: repeated handshakes with one foreign
// certificate, over QUIC and TCP, are all refused and counted, but
// audited once (with the fingerprint, escaped common name and address);
// another certificate is audited again and carries the count suppressed.
// The relay's clock is frozen, so the whole test is inside one window.
func TestHandshakeRefusalsAudited(t *testing.T) {
	frozen := time.Now()
	e := startRelay(t, envOptions{clock: func() time.Time { return frozen }})
	ctx := context.Background()
	a := e.enrol(t, testProject, testSite, transport.ModeTCP)
	evil, err := transport.NewCA("evil")
	if err != nil {
		t.Fatal(err)
	}
	foreign := func(cn string) *tls.Certificate {
		_, key, _ := ed25519.GenerateKey(rand.Reader)
		der, err := evil.IssueClientCertBetween(key.Public(), cn, frozen.Add(-time.Hour), frozen.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	}
	dial := func(cert *tls.Certificate, mode transport.Mode) {
		cfg := a.cfg
		cfg.Mode, cfg.Certificate = mode, tls.Certificate{}
		cfg.GetCertificate = func() (*tls.Certificate, error) { return cert, nil }
		c, err := transport.Dial(ctx, cfg)
		if err == nil {
			c.Close()
			t.Fatal("foreign certificate connected")
		}
	}
	x := foreign(a.id)
	for range 5 {
		dial(x, transport.ModeQUIC)
		dial(x, transport.ModeTCP)
	}
	f := audit.Filter{Action: audit.ActionAgentHandshakeRefused}
	evs := e.auditEntries(t, f)
	if len(evs) != 1 {
		t.Fatalf("%d agent.handshake_refused events for 10 refusals of one certificate, want 1", len(evs))
	}
	ev := evs[0]
	leaf := x.Leaf
	if leaf == nil {
		leaf, _ = parseLeaf(x)
	}
	if ev.Reason != transport.RefusedUnknownCA || ev.Actor != "unauthenticated" || ev.IP == "" ||
		ev.Details["fingerprint"] != transport.Fingerprint(leaf) || ev.Details["common_name"] != a.id {
		t.Fatalf("event %+v", ev.Event)
	}
	if n := e.metric(t, `dicomgate_relay_handshakes_refused_total{reason="unknown_ca"}`); n != 10 {
		t.Fatalf("refusal counter %v, want 10", n)
	}
	dial(foreign("site-z"), transport.ModeTCP)
	evs = e.auditEntries(t, f)
	if len(evs) != 2 || fmt.Sprint(evs[1].Details["suppressed_since_last"]) != "9" {
		t.Fatalf("second certificate: %d events, last %+v; want 2, suppressed_since_last 9", len(evs), evs[len(evs)-1].Event)
	}
	// Nothing reached the upload handler.
	if studies, _ := e.client(e.token).Studies(ctx, testProject); len(studies) != 0 {
		t.Fatalf("%d studies stored", len(studies))
	}
}

// parseLeaf parses the leaf of a TLS certificate.
func parseLeaf(c *tls.Certificate) (*x509.Certificate, error) {
	return x509.ParseCertificate(c.Certificate[0])
}
