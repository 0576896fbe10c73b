package relay

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"testing"

	"dicomgate/audit"
	"dicomgate/transport"
)

// TestRenewCertificate: an agent renews over its connection; the new
// certificate (same key, new serial, relay's validity) connects and
// uploads, the renewal is audited, and the old certificate still
// connects until it expires (an agent that crashed before saving the new
// one is not locked out). Another key and a revoked agent are refused.
func TestRenewCertificate(t *testing.T) {
	e := startRelay(t, envOptions{})
	ctx := context.Background()
	a := e.enrol(t, testProject, testSite, transport.ModeQUIC)
	old, _ := x509.ParseCertificate(a.cfg.Certificate.Certificate[0])

	resp, err := a.conn.Renew(ctx, a.key)
	if err != nil {
		t.Fatalf("renew: %v", err)
	}
	leaf, err := x509.ParseCertificate(resp.CertChain[0])
	if err != nil {
		t.Fatal(err)
	}
	if leaf.SerialNumber.Cmp(old.SerialNumber) == 0 || leaf.NotAfter.Before(old.NotAfter) {
		t.Fatalf("renewed certificate serial %v until %v, old %v until %v", leaf.SerialNumber, leaf.NotAfter, old.SerialNumber, old.NotAfter)
	}
	res, _ := e.srv.resources()
	rec, err := res.db.GetAgent(ctx, a.id)
	if err != nil || rec.CertSerial != leaf.SerialNumber.String() {
		t.Fatalf("agent record serial %v (err %v), want the new one", rec, err)
	}
	ev := e.auditEntries(t, audit.Filter{Action: audit.ActionAgentCertRenewed})
	if len(ev) != 1 || ev[0].Actor != a.id || ev[0].Details["old_cert_serial"] != old.SerialNumber.String() ||
		ev[0].Details["cert_serial"] != leaf.SerialNumber.String() {
		t.Fatalf("agent.cert_renewed events %+v", ev)
	}

	renewed := *a
	renewed.cfg.Certificate = tls.Certificate{Certificate: resp.CertChain, PrivateKey: a.key}
	renewed.conn, err = transport.Dial(ctx, renewed.cfg)
	if err != nil {
		t.Fatalf("dial with the renewed certificate: %v", err)
	}
	defer renewed.conn.Close()
	if _, err := renewed.upload(ctx, e.seal(t, &renewed, fileSpec{})); err != nil {
		t.Fatalf("upload with the renewed certificate: %v", err)
	}
	c, err := transport.Dial(ctx, a.cfg)
	if err != nil {
		t.Fatalf("the old certificate no longer connects: %v", err)
	}
	c.Close()

	_, other, _ := ed25519.GenerateKey(rand.Reader)
	_, err = renewed.conn.Renew(ctx, other)
	wantRejected(t, err, transport.CodeRenewalRefused)

	if err := e.srv.RevokeAgent(ctx, a.id); err != nil {
		t.Fatal(err)
	}
	_, err = renewed.conn.Renew(ctx, a.key) // a connection opened before the revocation
	wantRejected(t, err, transport.CodeRenewalRefused)
	_, err = transport.Dial(ctx, renewed.cfg)
	var cr *transport.CertificateRefusedError
	if !errors.As(err, &cr) {
		t.Fatalf("revoked agent dial: %v, want a refused certificate", err)
	}
	if n := len(e.auditEntries(t, audit.Filter{Action: audit.ActionAgentCertRenewed})); n != 1 {
		t.Fatalf("%d renewals audited, want 1", n)
	}
}
