package transport

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"net"
	"net/netip"
	"reflect"
	"strconv"
	"testing"
	"time"
)

func TestEnrolRequestWireGuardKey(t *testing.T) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	wg := mustWGKey(t).PublicKey()
	build := func(wg WireGuardKey) *EnrolRequest {
		r := &EnrolRequest{Secret: [EnrolmentSecretSize]byte{7}, PublicKey: key.Public(), Name: "site", WireGuardKey: wg}
		r.Proof, err = signProof(key, proofMessage(r.Secret[:], der, r.Name, wg))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	for _, k := range []WireGuardKey{{}, wg} {
		b, err := build(k).marshal()
		if err != nil {
			t.Fatal(err)
		}
		got, err := unmarshalEnrolRequest(b)
		if err != nil || got.WireGuardKey != k {
			t.Fatalf("round trip of wireguard key %v: %v, %v", k, got, err)
		}
	}
	// The proof covers the WireGuard key: another key, or a key dropped
	// or added after signing, does not verify.
	signed := build(wg)
	for name, swap := range map[string]WireGuardKey{"swapped": mustWGKey(t).PublicKey(), "dropped": {}} {
		r := *signed
		r.WireGuardKey = swap
		b, _ := r.marshal()
		if _, err := unmarshalEnrolRequest(b); err == nil {
			t.Errorf("%s wireguard key: proof verified", name)
		}
	}
	unsigned := build(WireGuardKey{})
	unsigned.WireGuardKey = wg
	if b, _ := unsigned.marshal(); func() error { _, err := unmarshalEnrolRequest(b); return err }() == nil {
		t.Error("added wireguard key: proof verified")
	}
	b, _ := build(wg).marshal()
	if _, err := unmarshalEnrolRequest(b[:len(b)-1]); err == nil {
		t.Error("truncated wireguard key accepted")
	}
}

func TestEnrolResponseWireGuardGrant(t *testing.T) {
	g := &WireGuardGrant{RelayPublicKey: mustWGKey(t).PublicKey(), Endpoint: ":51820",
		Address: netip.MustParseAddr("10.99.0.7"), RelayAddress: netip.MustParseAddrPort("10.99.0.1:7443")}
	for _, grant := range []*WireGuardGrant{nil, g} {
		r := &EnrolResponse{AgentID: "a", CertChain: [][]byte{{1}}, CACert: []byte{2}, WireGuard: grant}
		got, err := unmarshalEnrolResponse(r.marshal())
		if err != nil || !reflect.DeepEqual(got, r) {
			t.Fatalf("round trip = %+v, %v; want %+v", got, err, r)
		}
	}
	bad := *g
	bad.RelayAddress = netip.MustParseAddrPort("[fd00::1]:7443")
	if err := bad.Validate(); err == nil {
		t.Error("grant mixing ipv4 and ipv6 validated")
	}
	if err := (&WireGuardGrant{}).Validate(); err == nil {
		t.Error("empty grant validated")
	}
}

// TestEnrolWireGuardThroughTunnel enrols with a WireGuard key over the
// host network, then uploads through the tunnel with nothing but the
// grant: the relay's key, endpoint and the addresses it allocated.
func TestEnrolWireGuardThroughTunnel(t *testing.T) {
	env := newWGEnv(t, wgOptions{both: true, noPeers: true})
	agentIP := netip.MustParseAddr("10.99.0.9")
	wgPort := env.server.Tunnel().Endpoint().(*net.UDPAddr).Port
	env.handler.wireGuard = func(key WireGuardKey) (*WireGuardGrant, error) {
		err := env.server.Tunnel().AddPeer(WireGuardPeer{PublicKey: key, AllowedIPs: []netip.Prefix{netip.PrefixFrom(agentIP, 32)}})
		return &WireGuardGrant{
			RelayPublicKey: env.relayKey.PublicKey(),
			Endpoint:       ":" + strconv.Itoa(wgPort), // the agent fills in the host
			Address:        agentIP,
			RelayAddress:   netip.MustParseAddrPort(env.server.TunnelAddr().String()),
		}, err
	}
	tok, hash, err := NewEnrolmentToken(env.ca.Fingerprint())
	if err != nil {
		t.Fatal(err)
	}
	env.handler.mu.Lock()
	env.handler.tokens[hash] = time.Now().Add(time.Hour)
	env.handler.mu.Unlock()
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	priv := mustWGKey(t)
	resp, err := EnrolWireGuard(context.Background(), env.server.Addr().String(), tok, key, "wg", priv.PublicKey())
	if err != nil {
		t.Fatalf("enrol: %v", err)
	}
	if want := net.JoinHostPort("127.0.0.1", strconv.Itoa(wgPort)); resp.WireGuard.Endpoint != want {
		t.Fatalf("endpoint = %q, want %q", resp.WireGuard.Endpoint, want)
	}
	pool, err := resp.CAPool()
	if err != nil {
		t.Fatal(err)
	}
	wg := resp.WireGuard.Config(priv, 0)
	wg.ListenAddr = "127.0.0.1:0"
	c, err := Dial(context.Background(), ClientConfig{Addr: resp.WireGuard.RelayAddress.String(),
		Certificate: resp.TLSCertificate(key), RootCAs: pool, Mode: ModeQUIC, WireGuard: wg})
	if err != nil {
		t.Fatalf("dial through the granted tunnel: %v", err)
	}
	defer c.Close()
	data, offer := testFile("granted", 50_000)
	if _, err := c.Upload(context.Background(), offer, bytes.NewReader(data)); err != nil {
		t.Fatalf("upload: %v", err)
	}
}

// TestEnrolOnlyServer serves enrolment on the host while uploads and
// renewals there are refused as unavailable (retried, never quarantined).
func TestEnrolOnlyServer(t *testing.T) {
	ca, err := NewCA("test relay ca")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.IssueServerCert([]string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	h := newStagingHandler(t, ca)
	srv, err := Listen(context.Background(), ServerConfig{Addr: "127.0.0.1:0", Certificate: cert,
		ClientCAs: ca.Pool(), Handler: h, EnrolOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close(context.Background()) })
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			tok, hash, _ := NewEnrolmentToken(ca.Fingerprint())
			h.mu.Lock()
			h.tokens[hash] = time.Now().Add(time.Hour)
			h.mu.Unlock()
			_, key, _ := ed25519.GenerateKey(rand.Reader)
			resp, err := Enrol(context.Background(), srv.Addr().String(), tok, key, "host-"+string(mode))
			if err != nil {
				t.Fatalf("enrol on the enrol-only server: %v", err)
			}
			pool, _ := resp.CAPool()
			c, err := Dial(context.Background(), ClientConfig{Addr: srv.Addr().String(),
				Certificate: resp.TLSCertificate(key), RootCAs: pool, Mode: mode})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			data, offer := testFile("refused-"+string(mode), 1000)
			_, err = c.Upload(context.Background(), offer, bytes.NewReader(data))
			if !errors.Is(err, ErrRelayUnavailable) {
				t.Fatalf("upload on the enrol-only server = %v, want ErrRelayUnavailable", err)
			}
			if _, err := c.Renew(context.Background(), key); !errors.Is(err, ErrRelayUnavailable) {
				t.Fatalf("renewal on the enrol-only server = %v, want ErrRelayUnavailable", err)
			}
		})
	}
	if h.begins != 0 {
		t.Fatalf("handler saw %d offers", h.begins)
	}
}
