package transport

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"
)

// WireGuardGrant is the relay's answer to an agent that enrolled with a
// WireGuard key: the agent's place in the relay's tunnel. With it the
// agent can bring up its side of the tunnel ([WireGuardGrant.Config])
// without any static configuration.
type WireGuardGrant struct {
	// RelayPublicKey is the relay's WireGuard public key.
	RelayPublicKey WireGuardKey
	// Endpoint is the host:port of the relay's WireGuard UDP socket. The
	// relay may send only ":port"; [EnrolWireGuard] then fills in the host
	// the agent enrolled with.
	Endpoint string
	// Address is the agent's address inside the tunnel, allocated by the
	// relay.
	Address netip.Addr
	// RelayAddress is where the relay serves the upload protocol inside
	// the tunnel (its tunnel address and port).
	RelayAddress netip.AddrPort
}

// Validate reports whether the grant is complete.
func (g *WireGuardGrant) Validate() error {
	var errs []error
	if g.RelayPublicKey.IsZero() {
		errs = append(errs, errors.New("relay public key is missing"))
	}
	if _, _, err := net.SplitHostPort(g.Endpoint); err != nil {
		errs = append(errs, fmt.Errorf("endpoint %q is not host:port", g.Endpoint))
	}
	if !g.Address.IsValid() {
		errs = append(errs, errors.New("tunnel address is missing"))
	}
	if !g.RelayAddress.IsValid() || g.RelayAddress.Port() == 0 {
		errs = append(errs, errors.New("relay tunnel address is missing"))
	}
	if g.Address.IsValid() && g.RelayAddress.IsValid() && g.Address.Is4() != g.RelayAddress.Addr().Is4() {
		errs = append(errs, errors.New("tunnel addresses mix ipv4 and ipv6"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("transport: wireguard grant: %w", err)
	}
	return nil
}

// Config returns the agent's side of the tunnel the grant describes: the
// private key priv, the granted address, and the relay as the one peer,
// reached at Endpoint and allowed to use only its tunnel address.
// keepalive keeps NAT mappings open (0: off).
func (g *WireGuardGrant) Config(priv WireGuardKey, keepalive time.Duration) *WireGuardConfig {
	return &WireGuardConfig{
		PrivateKey: priv,
		Address:    g.Address,
		Peers: []WireGuardPeer{{
			PublicKey:           g.RelayPublicKey,
			Endpoint:            g.Endpoint,
			AllowedIPs:          []netip.Prefix{netip.PrefixFrom(g.RelayAddress.Addr(), g.RelayAddress.Addr().BitLen())},
			PersistentKeepalive: keepalive,
		}},
	}
}

// append encodes the grant after an EnrolResponse.
func (g *WireGuardGrant) append(b []byte) []byte {
	b = appendBytes(b, g.RelayPublicKey[:])
	b = appendString(b, g.Endpoint)
	b = appendString(b, g.Address.String())
	return appendString(b, g.RelayAddress.String())
}

// decodeWireGuardGrant reads what append wrote.
func decodeWireGuardGrant(d *decoder) (*WireGuardGrant, error) {
	key := d.bytes()
	g := &WireGuardGrant{Endpoint: d.string()}
	addr, relay := d.string(), d.string()
	if d.err != nil || len(key) != len(g.RelayPublicKey) {
		return nil, errMalformed
	}
	g.RelayPublicKey = WireGuardKey(key)
	var err error
	if g.Address, err = netip.ParseAddr(addr); err != nil {
		return nil, errMalformed
	}
	if g.RelayAddress, err = netip.ParseAddrPort(relay); err != nil {
		return nil, errMalformed
	}
	return g, nil
}

// EnrolWireGuard is [Enrol] for an agent that reaches the relay through
// its WireGuard tunnel: the request also carries wgPublic (covered by the
// proof), and the response's WireGuard grant is checked and completed (an
// endpoint without a host gets the host of addr). The enrolment itself
// runs over addr on the host network, as the relay keeps enrolment
// reachable there even when it serves uploads inside the tunnel only.
func EnrolWireGuard(ctx context.Context, addr, token string, agentKey crypto.Signer, name string, wgPublic WireGuardKey) (*EnrolResponse, error) {
	if wgPublic.IsZero() {
		return nil, errors.New("transport: enrol: wireguard public key is required")
	}
	resp, err := enrol(ctx, addr, token, agentKey, name, wgPublic)
	if err != nil {
		return nil, err
	}
	g := resp.WireGuard
	if host, port, err := net.SplitHostPort(g.Endpoint); err == nil && host == "" {
		relayHost, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, fmt.Errorf("transport: enrol: relay address: %w", err)
		}
		g.Endpoint = net.JoinHostPort(relayHost, port)
	}
	if err := g.Validate(); err != nil {
		return nil, fmt.Errorf("transport: enrol response: %w", err)
	}
	return resp, nil
}
