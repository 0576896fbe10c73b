package relay

import (
	"fmt"
	"net"
	"net/netip"

	"dicomgate/transport"
)

// WireGuardSection is the relay's `wireguard:` section: its side of the
// tunnel ([transport.WireGuardSection]: private_key_file, address,
// listen, mtu and static peers) and how agents that enrol with a
// WireGuard key get into it.
//
//	listen_mode: wireguard
//	wireguard:
//	  private_key_file: wg.key          # dicomgate wg keygen --out wg.key
//	  address: 10.99.0.1
//	  listen: ":51820"
//	  agent_prefix: 10.99.0.0/24        # enrolled agents' tunnel addresses
//	  endpoint: relay.example.org:51820 # what agents dial
type WireGuardSection struct {
	transport.WireGuardSection `yaml:",inline"`

	// AgentPrefix is the prefix the tunnel addresses of enrolled agents are
	// allocated from (lowest free first; never the relay's own address,
	// a static peer's, or an IPv4 network or broadcast address). Default:
	// the /24 (IPv4) or /64 (IPv6) holding address.
	AgentPrefix string `yaml:"agent_prefix"`

	// Endpoint is the host:port agents reach the WireGuard UDP socket at,
	// sent to them at enrolment. Default: the host an agent enrolled with,
	// at the port of listen.
	Endpoint string `yaml:"endpoint"`
}

// agentPrefix returns AgentPrefix, or its default around the relay's
// tunnel address addr.
func (w *WireGuardSection) agentPrefix(addr netip.Addr) (netip.Prefix, error) {
	if w.AgentPrefix == "" {
		bits := 24
		if addr.Is6() {
			bits = 64
		}
		return addr.Prefix(bits)
	}
	p, err := netip.ParsePrefix(w.AgentPrefix)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("wireguard.agent_prefix: %q is not a prefix", w.AgentPrefix)
	}
	if addr.IsValid() && p.Addr().Is4() != addr.Is4() {
		return netip.Prefix{}, fmt.Errorf("wireguard.agent_prefix: %s is not of the family of address %s", p, addr)
	}
	return p.Masked(), nil
}

// validate reports the problems of the enrolment fields (no I/O).
func (w *WireGuardSection) validate() []error {
	var errs []error
	addr, err := netip.ParseAddr(w.Address)
	if err != nil {
		addr = netip.Addr{} // transport reports the address itself
	}
	if _, err := w.agentPrefix(addr); err != nil && (w.AgentPrefix != "" || addr.IsValid()) {
		errs = append(errs, err)
	}
	if w.Endpoint != "" {
		if _, _, err := net.SplitHostPort(w.Endpoint); err != nil {
			errs = append(errs, fmt.Errorf("wireguard.endpoint: %q is not host:port", w.Endpoint))
		}
	}
	return errs
}
