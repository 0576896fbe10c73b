package transport

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"time"
)

// WireGuardSection is the `wireguard:` section of agent.yaml and relay.yaml:
// the text form of a [WireGuardConfig]. The private key stays in its own
// file (`dicomgate wg keygen --out FILE`, mode 0600), never in the YAML.
//
//	wireguard:
//	  private_key_file: identity/wg.key
//	  address: 10.99.0.2            # this side, inside the tunnel
//	  listen: ":0"                  # relay: ":51820"
//	  mtu: 1420
//	  peers:
//	    - public_key: "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo="
//	      endpoint: relay.example.org:51820   # agents only
//	      allowed_ips: [10.99.0.1/32]
//	      persistent_keepalive: 25s
type WireGuardSection struct {
	// PrivateKeyFile holds this side's private key in base64. Required.
	PrivateKeyFile string `yaml:"private_key_file"`
	// Address is this side's IP inside the tunnel. Required.
	Address string `yaml:"address"`
	// Listen is the host:port of the WireGuard UDP socket. Default ":0"
	// (agents); relays set a fixed port.
	Listen string `yaml:"listen"`
	// MTU of the tunnel. Default 1420.
	MTU int `yaml:"mtu"`
	// Peers allowed in: for an agent the relay, for a relay its agents
	// (agents enrolled with a WireGuard key are added at run time too). An
	// agent may leave peers and address out: they come from its enrolment
	// ([WireGuardGrant]).
	Peers []WireGuardPeerSection `yaml:"peers"`
}

// WireGuardPeerSection is one peer of a [WireGuardSection].
type WireGuardPeerSection struct {
	// PublicKey is the peer's public key in base64. Required.
	PublicKey string `yaml:"public_key"`
	// Endpoint is the peer's host:port; agents set the relay's.
	Endpoint string `yaml:"endpoint"`
	// AllowedIPs are the peer's tunnel addresses (CIDR). Required.
	AllowedIPs []string `yaml:"allowed_ips"`
	// PersistentKeepalive, e.g. 25s behind NAT. Default off.
	PersistentKeepalive time.Duration `yaml:"persistent_keepalive"`
}

// Config reads the private key file and returns the tunnel configuration,
// or an error listing every problem.
func (s *WireGuardSection) Config() (*WireGuardConfig, error) {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("wireguard: "+format, args...))
	}
	cfg := &WireGuardConfig{ListenAddr: s.Listen, MTU: s.MTU}
	if s.PrivateKeyFile == "" {
		bad("private_key_file: required")
	} else if b, err := os.ReadFile(s.PrivateKeyFile); err != nil {
		bad("private_key_file: %w", err)
	} else if cfg.PrivateKey, err = ParseWireGuardKey(strings.TrimSpace(string(b))); err != nil {
		bad("private_key_file: %w", err)
	}
	var err error
	if cfg.Address, err = netip.ParseAddr(s.Address); err != nil {
		bad("address: %q is not an ip address", s.Address)
	}
	for i, p := range s.Peers {
		wp := WireGuardPeer{Endpoint: p.Endpoint, PersistentKeepalive: p.PersistentKeepalive}
		if wp.PublicKey, err = ParseWireGuardKey(p.PublicKey); err != nil {
			bad("peers[%d].public_key: %w", i, err)
		}
		if len(p.AllowedIPs) == 0 {
			bad("peers[%d].allowed_ips: required", i)
		}
		for _, a := range p.AllowedIPs {
			pfx, err := netip.ParsePrefix(a)
			if err != nil {
				bad("peers[%d].allowed_ips: %q is not a prefix", i, a)
				continue
			}
			wp.AllowedIPs = append(wp.AllowedIPs, pfx)
		}
		cfg.Peers = append(cfg.Peers, wp)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}
