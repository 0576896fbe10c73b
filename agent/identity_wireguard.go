package agent

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"dicomgate/transport"
)

// IdentityWireGuardKeyFile is the agent's WireGuard private key (base64,
// mode 0600), written by [EnrollWireGuard] when the configuration names
// no key file of its own.
const IdentityWireGuardKeyFile = "wg.key"

// enrolledKeepalive keeps the NAT mapping of an agent's tunnel open when
// its peer comes from the enrolment (sites are usually behind NAT).
const enrolledKeepalive = 25 * time.Second

// wireGuardInfo is the JSON form of a [transport.WireGuardGrant] in
// agent.json: public values only, the private key stays in its own file.
type wireGuardInfo struct {
	RelayPublicKey string `json:"relay_public_key"`
	Endpoint       string `json:"endpoint"`
	Address        string `json:"address"`
	RelayAddress   string `json:"relay_address"`
}

func newWireGuardInfo(g *transport.WireGuardGrant) *wireGuardInfo {
	if g == nil {
		return nil
	}
	return &wireGuardInfo{RelayPublicKey: g.RelayPublicKey.String(), Endpoint: g.Endpoint,
		Address: g.Address.String(), RelayAddress: g.RelayAddress.String()}
}

// grant parses w back; a damaged agent.json fails with a clear error.
func (w *wireGuardInfo) grant() (*transport.WireGuardGrant, error) {
	if w == nil {
		return nil, nil
	}
	g := &transport.WireGuardGrant{Endpoint: w.Endpoint}
	var errs []error
	var err error
	if g.RelayPublicKey, err = transport.ParseWireGuardKey(w.RelayPublicKey); err != nil {
		errs = append(errs, errors.New("relay_public_key is not a wireguard key"))
	}
	if g.Address, err = netip.ParseAddr(w.Address); err != nil {
		errs = append(errs, fmt.Errorf("address %q is not an ip address", w.Address))
	}
	if g.RelayAddress, err = netip.ParseAddrPort(w.RelayAddress); err != nil {
		errs = append(errs, fmt.Errorf("relay_address %q is not ip:port", w.RelayAddress))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("agent: %s wireguard: %w", IdentityInfoFile, err)
	}
	if err := g.Validate(); err != nil {
		return nil, fmt.Errorf("agent: %s: %w", IdentityInfoFile, err)
	}
	return g, nil
}

// wireGuardKeyFile is the agent's WireGuard private key file: the one the
// configuration names, or wg.key in the identity folder.
func wireGuardKeyFile(sec *transport.WireGuardSection, identityDir string) string {
	if sec != nil && sec.PrivateKeyFile != "" {
		return sec.PrivateKeyFile
	}
	return filepath.Join(identityDir, IdentityWireGuardKeyFile)
}

// readWireGuardKey reads a private key file written by `dicomgate wg
// keygen` or by enrolment; a missing file gives (zero, nil).
func readWireGuardKey(path string) (transport.WireGuardKey, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return transport.WireGuardKey{}, nil
	}
	if err != nil {
		return transport.WireGuardKey{}, fmt.Errorf("agent: wireguard key %s: %w", filepath.Base(path), pathless(err))
	}
	k, err := transport.ParseWireGuardKey(strings.TrimSpace(string(b)))
	if err != nil {
		return transport.WireGuardKey{}, fmt.Errorf("agent: wireguard key %s: %w", filepath.Base(path), err)
	}
	return k, nil
}

// tunnel returns the WireGuard configuration the agent runs with and the
// relay address to dial (inside the tunnel), or (nil, relay.address)
// without a wireguard section. A section that lists no peers takes
// everything it leaves out from the enrolment: the key file (identity
// folder), the agent's tunnel address, the relay as the one peer (its key,
// endpoint and tunnel address, keepalive 25 s) and the address to dial.
// A section with peers is a static configuration used as written.
func (c *Config) tunnel(id *Identity) (*transport.WireGuardConfig, string, error) {
	if c.WireGuard == nil {
		return nil, c.Relay.Address, nil
	}
	sec := *c.WireGuard
	sec.PrivateKeyFile = wireGuardKeyFile(&sec, c.IdentityDir)
	if len(sec.Peers) > 0 {
		wg, err := sec.Config()
		if err != nil {
			return nil, "", fmt.Errorf("agent: %w", err)
		}
		return wg, c.Relay.Address, nil
	}
	g := id.WireGuard
	if g == nil {
		return nil, "", errors.New("agent: wireguard: no peers configured and the identity holds no tunnel grant: " +
			"enrol again with the wireguard section in agent.yaml (dicomgate agent enroll --force)")
	}
	if sec.Address == "" {
		sec.Address = g.Address.String()
	}
	wg, err := sec.Config()
	if err != nil {
		return nil, "", fmt.Errorf("agent: %w", err)
	}
	peer := g.Config(wg.PrivateKey, enrolledKeepalive).Peers[0]
	wg.Peers = []transport.WireGuardPeer{peer}
	return wg, g.RelayAddress.String(), nil
}
