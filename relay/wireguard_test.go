package relay

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"dicomgate/audit"
	"dicomgate/transport"
)

// wgRelay returns the options of a relay serving inside a WireGuard tunnel
// (listen_mode mode) whose UDP socket is on 127.0.0.1 at a port kept
// across restarts, with its data and key in dataDir.
func wgRelay(t *testing.T, dataDir, mode string) envOptions {
	t.Helper()
	keyFile := filepath.Join(dataDir, "wg.key")
	if _, err := os.Stat(keyFile); errors.Is(err, os.ErrNotExist) {
		k, err := transport.GenerateWireGuardKey()
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(keyFile, []byte(k.String()+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := pc.LocalAddr().(*net.UDPAddr).Port
	pc.Close()
	return envOptions{dataDir: dataDir, config: func(c *Config) {
		c.ListenMode = mode
		c.WireGuard = &WireGuardSection{
			WireGuardSection: transport.WireGuardSection{
				PrivateKeyFile: keyFile,
				Address:        "10.99.0.1",
				Listen:         "127.0.0.1:" + strconv.Itoa(port),
			},
			AgentPrefix: "10.99.0.0/24",
		}
	}}
}

// wgAgent is an agent enrolled with a WireGuard key.
type wgAgent struct {
	*testAgent
	priv  transport.WireGuardKey
	grant *transport.WireGuardGrant
	ca    *transport.EnrolResponse
}

// enrolWG enrols an agent with a new WireGuard key at the relay's
// enrolment address.
func (e *env) enrolWG(t *testing.T) *wgAgent {
	t.Helper()
	tok, err := e.srv.CreateEnrolmentToken(context.Background(), testProject, testSite)
	if err != nil {
		t.Fatal(err)
	}
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	priv, err := transport.GenerateWireGuardKey()
	if err != nil {
		t.Fatal(err)
	}
	resp, err := transport.EnrolWireGuard(context.Background(), e.srv.EnrolAddr().String(), tok, key, "wg", priv.PublicKey())
	if err != nil {
		t.Fatalf("enrol with a wireguard key: %v", err)
	}
	return &wgAgent{testAgent: &testAgent{id: resp.AgentID, key: key}, priv: priv, grant: resp.WireGuard, ca: resp}
}

// clientConfig reaches the relay through the tunnel with WireGuard key
// wgKey; withCert false sends no client certificate (a peer that may only
// enrol, which the tunnel alone decides whether to let through).
func (a *wgAgent) clientConfig(t *testing.T, e *env, wgKey transport.WireGuardKey, withCert bool) transport.ClientConfig {
	t.Helper()
	pool, err := a.ca.CAPool()
	if err != nil {
		t.Fatal(err)
	}
	wg := a.grant.Config(wgKey, 0)
	wg.ListenAddr = "127.0.0.1:0"
	cfg := transport.ClientConfig{Addr: a.grant.RelayAddress.String(), RootCAs: pool,
		ReceiptKey: e.receipt, Mode: transport.ModeQUIC, WireGuard: wg, QUICTimeout: wgRetry}
	if withCert {
		cfg.Certificate = a.ca.TLSCertificate(a.key)
	}
	return cfg
}

// dial connects through the tunnel with the agent's own keys.
func (a *wgAgent) dial(t *testing.T, e *env) {
	t.Helper()
	time.Sleep(wgFloodGuard)
	c, err := transport.Dial(context.Background(), a.clientConfig(t, e, a.priv, true))
	if err != nil {
		t.Fatalf("dial through the tunnel: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	a.conn = c
}

// wgRetry bounds a connection that must succeed through the tunnel: it
// covers one WireGuard handshake retry (after 5 s).
const wgRetry = 8 * time.Second

// wgFloodGuard outwaits WireGuard's flood guard: a relay ignores a peer's
// handshake initiation within 20 ms of its previous one. Every new tunnel
// in these tests starts after it, so that a key gets nothing only because
// the relay does not know it, never because it asked too soon.
const wgFloodGuard = 50 * time.Millisecond

// checkTunnel checks whether the relay answers at all through the tunnel
// with WireGuard key wgKey: with no client certificate, the relay would
// accept the connection (for enrolment), so only the tunnel can refuse it.
// A key that must get nothing is given 1.5 s to get something.
func (a *wgAgent) checkTunnel(t *testing.T, e *env, wgKey transport.WireGuardKey, wantAnswer bool, what string) {
	t.Helper()
	cfg := a.clientConfig(t, e, wgKey, false)
	time.Sleep(wgFloodGuard)
	wait := wgRetry
	if !wantAnswer {
		cfg.QUICTimeout, wait = time.Second, 1500*time.Millisecond
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	c, err := transport.Dial(ctx, cfg)
	if err == nil {
		c.Close()
	}
	switch {
	case wantAnswer && err != nil:
		t.Fatalf("%s: no answer through the tunnel: %v", what, err)
	case !wantAnswer && err == nil:
		t.Fatalf("%s: reached the relay through the tunnel", what)
	}
}

// TestWireGuardEnrolment: a relay that takes uploads inside its tunnel
// only enrols agents on the host network, allocates each a tunnel
// address, lets them upload through the tunnel and nowhere else, and lets
// no other key in.
func TestWireGuardEnrolment(t *testing.T) {
	e := startRelay(t, wgRelay(t, t.TempDir(), "wireguard"))
	ctx := context.Background()
	if e.srv.EnrolAddr().String() == e.srv.Addr().String() {
		t.Fatalf("enrolment served at the tunnel address %s", e.srv.Addr())
	}

	// Without a WireGuard key the agent could never upload: refused, and
	// the token stays usable.
	tok, err := e.srv.CreateEnrolmentToken(ctx, testProject, testSite)
	if err != nil {
		t.Fatal(err)
	}
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	_, err = transport.Enrol(ctx, e.srv.EnrolAddr().String(), tok, key, "plain")
	wantRejected(t, err, transport.CodeEnrolmentRefused)
	wgPriv, _ := transport.GenerateWireGuardKey()
	if _, err := transport.EnrolWireGuard(ctx, e.srv.EnrolAddr().String(), tok, key, "wg", wgPriv.PublicKey()); err != nil {
		t.Fatalf("the token refused without a wireguard key was used up: %v", err)
	}

	a, b := e.enrolWG(t), e.enrolWG(t)
	prefix := netip.MustParsePrefix("10.99.0.0/24")
	for _, ag := range []*wgAgent{a, b} {
		g := ag.grant
		if !prefix.Contains(g.Address) || g.Address == netip.MustParseAddr("10.99.0.1") {
			t.Errorf("agent %s got tunnel address %s", ag.id, g.Address)
		}
		if g.RelayAddress.String() != e.srv.Addr().String() || g.RelayPublicKey.IsZero() {
			t.Errorf("grant %+v does not name the relay's tunnel address %s", g, e.srv.Addr())
		}
		if host, _, _ := net.SplitHostPort(g.Endpoint); host != "127.0.0.1" {
			t.Errorf("endpoint %q does not carry the enrolment host", g.Endpoint)
		}
	}
	if a.grant.Address == b.grant.Address {
		t.Fatalf("two agents share tunnel address %s", a.grant.Address)
	}
	// The key is the agent's: nobody else enrols with it.
	tok2, _ := e.srv.CreateEnrolmentToken(ctx, testProject, testSite)
	_, err = transport.EnrolWireGuard(ctx, e.srv.EnrolAddr().String(), tok2, key, "thief", a.priv.PublicKey())
	wantRejected(t, err, transport.CodeEnrolmentRefused)

	a.dial(t, e)
	f := e.seal(t, a.testAgent, fileSpec{id: "through-tunnel"})
	if _, err := a.upload(ctx, f); err != nil {
		t.Fatalf("upload through the tunnel: %v", err)
	}
	// On the host the relay enrols but takes no upload (retryable, so the
	// agent keeps the file).
	pool, _ := a.ca.CAPool()
	host, err := transport.Dial(ctx, transport.ClientConfig{Addr: e.srv.EnrolAddr().String(),
		Certificate: a.ca.TLSCertificate(a.key), RootCAs: pool, Mode: transport.ModeQUIC})
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	g := e.seal(t, a.testAgent, fileSpec{id: "on-the-host", sop: "1.2.826.0.1.3680043.10.9"})
	if _, err := host.Upload(ctx, g.offer, bytes.NewReader(g.sealed)); !errors.Is(err, transport.ErrRelayUnavailable) {
		t.Fatalf("upload on the host = %v, want ErrRelayUnavailable", err)
	}

	// An unenrolled key gets nothing, not even the enrolment service that
	// an enrolled key reaches without a certificate.
	b.checkTunnel(t, e, b.priv, true, "enrolled key without a certificate (the control of the next check)")
	stranger, _ := transport.GenerateWireGuardKey()
	b.checkTunnel(t, e, stranger, false, "unenrolled wireguard key")
	en := lastEntry(t, e, audit.Filter{Action: audit.ActionAgentEnrol, Actor: a.id})
	if en.Details["tunnel_ip"] != a.grant.Address.String() || en.Details["wireguard_key"] != a.priv.PublicKey().String() {
		t.Errorf("agent.enrol details = %v, want the tunnel address and wireguard key", en.Details)
	}
}

// TestWireGuardPeersPersist: enrolled peers come back when the relay
// restarts; a revoked agent's key is removed from the tunnel at once and
// stays out after the next restart, while other agents carry on.
func TestWireGuardPeersPersist(t *testing.T) {
	dir := t.TempDir()
	opts := wgRelay(t, dir, "wireguard")
	e := startRelay(t, opts)
	a, b := e.enrolWG(t), e.enrolWG(t)
	a.dial(t, e)
	if _, err := a.upload(context.Background(), e.seal(t, a.testAgent, fileSpec{id: "before-restart"})); err != nil {
		t.Fatalf("upload before restart: %v", err)
	}
	a.conn.Close()
	e.stop()

	e = startRelay(t, opts)
	a.dial(t, e)
	if _, err := a.upload(context.Background(), e.seal(t, a.testAgent, fileSpec{id: "after-restart", sop: "1.2.826.0.1.3680043.10.2"})); err != nil {
		t.Fatalf("upload after restart: %v", err)
	}
	a.conn.Close()

	a.checkTunnel(t, e, a.priv, true, "enrolled key before revocation")
	if err := e.srv.RevokeAgent(context.Background(), a.id); err != nil {
		t.Fatal(err)
	}
	a.checkTunnel(t, e, a.priv, false, "revoked agent's key")
	res, _ := e.srv.resources()
	peers, err := res.db.ListWireGuardPeers(context.Background())
	if err != nil || len(peers) != 1 || peers[0].AgentID != b.id {
		t.Fatalf("peers after revocation = %+v, %v; want only %s", peers, err, b.id)
	}
	en := lastEntry(t, e, audit.Filter{Action: audit.ActionAgentRevoke})
	if en.Object != a.id || en.Details["wireguard_peer"] != "removed" || en.Details["tunnel_ip"] != a.grant.Address.String() {
		t.Errorf("agent.revoke entry = %+v, want the removed peer", en)
	}
	b.dial(t, e)
	if _, err := b.upload(context.Background(), e.seal(t, b.testAgent, fileSpec{id: "other-agent", sop: "1.2.826.0.1.3680043.10.3"})); err != nil {
		t.Fatalf("other agent after revocation: %v", err)
	}
	e.stop()

	e = startRelay(t, opts)
	a.checkTunnel(t, e, a.priv, false, "revoked agent's key after a restart")
	b.checkTunnel(t, e, b.priv, true, "other agent's key after a restart")
}

// TestWireGuardEnrolNeedsTunnel: a relay without a tunnel refuses a
// WireGuard key before the token is used.
func TestWireGuardEnrolNeedsTunnel(t *testing.T) {
	e := startRelay(t, envOptions{})
	ctx := context.Background()
	tok, err := e.srv.CreateEnrolmentToken(ctx, testProject, testSite)
	if err != nil {
		t.Fatal(err)
	}
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	wg, _ := transport.GenerateWireGuardKey()
	_, err = transport.EnrolWireGuard(ctx, e.srv.Addr().String(), tok, key, "wg", wg.PublicKey())
	wantRejected(t, err, transport.CodeEnrolmentRefused)
	if _, err := transport.Enrol(ctx, e.srv.Addr().String(), tok, key, "plain"); err != nil {
		t.Fatalf("token used up by the refused enrolment: %v", err)
	}
}

// lastEntry returns the last audit entry matching f, or fails.
func lastEntry(t *testing.T, e *env, f audit.Filter) audit.Entry {
	t.Helper()
	all := e.auditEntries(t, f)
	if len(all) == 0 {
		t.Fatalf("no audit entry matches %+v", f)
	}
	return all[len(all)-1]
}
