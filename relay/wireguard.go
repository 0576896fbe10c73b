package relay

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"dicomgate/store"
	"dicomgate/transport"
)

// wireGuardSyncEvery is how often a relay with a tunnel brings its live
// peers in line with the metadata database, so that agents enrolled or
// revoked through another relay sharing the database are let in or shut
// out here too.
const wireGuardSyncEvery = 30 * time.Second

// maxAllocTries bounds the tunnel address allocation when relays sharing
// a database race for the same address.
const maxAllocTries = 8

// tunnelPeers keeps the enrolled agents' peers of the relay's WireGuard
// tunnel in line with the metadata database (wireguard_peers): it
// allocates an agent's tunnel address at enrolment, adds the peer to the
// live device, removes it at revocation, and restores every peer when the
// relay starts. Static peers of the configuration are never touched.
type tunnelPeers struct {
	tunnel   *transport.Tunnel
	prefix   netip.Prefix   // enrolled agents' addresses come from here
	reserved []netip.Prefix // the relay's own address and static peers'
	grant    transport.WireGuardGrant

	mu sync.Mutex
	// +checklocks:mu
	live map[string]store.WireGuardPeer // agent ID -> peer on the device
}

// newTunnelPeers describes the tunnel served by up (nil without one).
func newTunnelPeers(cfg *WireGuardSection, wg *transport.WireGuardConfig, up *transport.Server) (*tunnelPeers, error) {
	t := up.Tunnel()
	if t == nil {
		return nil, nil
	}
	prefix, err := cfg.agentPrefix(wg.Address)
	if err != nil {
		return nil, fmt.Errorf("relay: %w", err)
	}
	relayAddr, err := netip.ParseAddrPort(up.TunnelAddr().String())
	if err != nil {
		return nil, fmt.Errorf("relay: tunnel address: %w", err)
	}
	endpoint := cfg.Endpoint
	if endpoint == "" {
		_, port, err := net.SplitHostPort(t.Endpoint().String())
		if err != nil {
			return nil, fmt.Errorf("relay: wireguard endpoint: %w", err)
		}
		endpoint = ":" + port // the agent fills in the host it enrolled with
	}
	p := &tunnelPeers{
		tunnel:   t,
		prefix:   prefix,
		reserved: []netip.Prefix{netip.PrefixFrom(wg.Address, wg.Address.BitLen())},
		grant: transport.WireGuardGrant{
			RelayPublicKey: wg.PrivateKey.PublicKey(),
			Endpoint:       endpoint,
			RelayAddress:   relayAddr,
		},
		live: map[string]store.WireGuardPeer{},
	}
	for _, sp := range wg.Peers {
		p.reserved = append(p.reserved, sp.AllowedIPs...)
	}
	return p, nil
}

// peerOf is the device configuration of an enrolled agent's peer: its key,
// allowed to use its tunnel address only.
func peerOf(wp store.WireGuardPeer) transport.WireGuardPeer {
	return transport.WireGuardPeer{
		PublicKey:  transport.WireGuardKey(wp.PublicKey),
		AllowedIPs: []netip.Prefix{netip.PrefixFrom(wp.TunnelIP, wp.TunnelIP.BitLen())},
	}
}

// sync adds the database's peers of agents that are not revoked to the
// device and removes the ones no longer there.
func (p *tunnelPeers) sync(ctx context.Context, db store.MetaDB) error {
	// Holding mu across the reads keeps admit and drop (which hold it
	// across their writes) from landing between the read and the update.
	p.mu.Lock()
	defer p.mu.Unlock()
	peers, err := db.ListWireGuardPeers(ctx)
	if err != nil {
		return fmt.Errorf("relay: wireguard peers: %w", err)
	}
	agents, err := db.ListAgents(ctx, "")
	if err != nil {
		return fmt.Errorf("relay: wireguard peers: %w", err)
	}
	active := map[string]bool{}
	for _, a := range agents {
		active[a.ID] = !a.Revoked
	}
	want := map[string]store.WireGuardPeer{}
	for _, wp := range peers {
		if active[wp.AgentID] && len(wp.PublicKey) == 32 {
			want[wp.AgentID] = wp
		}
	}
	var errs []error
	for id, old := range p.live {
		if cur, ok := want[id]; !ok || !samePeer(cur, old) {
			if err := p.tunnel.RemovePeer(transport.WireGuardKey(old.PublicKey)); err != nil {
				errs = append(errs, err)
				continue
			}
			delete(p.live, id)
		}
	}
	for id, wp := range want {
		if _, ok := p.live[id]; ok {
			continue
		}
		if err := p.tunnel.AddPeer(peerOf(wp)); err != nil {
			errs = append(errs, err)
			continue
		}
		p.live[id] = wp
	}
	return errors.Join(errs...)
}

func samePeer(a, b store.WireGuardPeer) bool {
	return string(a.PublicKey) == string(b.PublicKey) && a.TunnelIP == b.TunnelIP
}

// keyTaken reports whether key is already the peer of an agent.
func keyTaken(ctx context.Context, db store.MetaDB, key transport.WireGuardKey) (bool, error) {
	peers, err := db.ListWireGuardPeers(ctx)
	if err != nil {
		return false, fmt.Errorf("relay: wireguard peers: %w", err)
	}
	for _, wp := range peers {
		if string(wp.PublicKey) == string(key[:]) {
			return true, nil
		}
	}
	return false, nil
}

// admit allocates agentID a tunnel address, records its peer (the
// database's unique constraints settle races between relays) and adds it
// to the live device. It returns the agent's grant.
func (p *tunnelPeers) admit(ctx context.Context, db store.MetaDB, agentID string, key transport.WireGuardKey) (*transport.WireGuardGrant, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for range maxAllocTries {
		peers, err := db.ListWireGuardPeers(ctx)
		if err != nil {
			return nil, fmt.Errorf("relay: wireguard peers: %w", err)
		}
		ip, ok := p.free(peers)
		if !ok {
			return nil, errTunnelFull
		}
		wp := store.WireGuardPeer{AgentID: agentID, PublicKey: append([]byte(nil), key[:]...), TunnelIP: ip}
		err = db.PutWireGuardPeer(ctx, wp)
		if errors.Is(err, store.ErrConflict) {
			if taken, terr := keyTaken(ctx, db, key); terr == nil && taken {
				return nil, errKeyTaken // another agent enrolled with the key meanwhile
			}
			continue // another relay took the address first
		}
		if err != nil {
			return nil, fmt.Errorf("relay: record wireguard peer: %w", err)
		}
		if err := p.tunnel.AddPeer(peerOf(wp)); err != nil {
			return nil, fmt.Errorf("relay: %w", err)
		}
		p.live[agentID] = wp
		g := p.grant
		g.Address = ip
		return &g, nil
	}
	return nil, errTunnelFull
}

// Refusals of admit.
var (
	// errTunnelFull: no free address was found in the agent prefix.
	errTunnelFull = errors.New("relay: no free tunnel address in wireguard.agent_prefix")
	// errKeyTaken: the key is another agent's peer.
	errKeyTaken = errors.New("relay: wireguard key registered to another agent")
)

// free returns the lowest address of the prefix that no peer holds and
// that is not reserved.
func (p *tunnelPeers) free(peers []store.WireGuardPeer) (netip.Addr, bool) {
	used := map[netip.Addr]bool{}
	for _, wp := range peers {
		used[wp.TunnelIP] = true
	}
	last := lastAddr(p.prefix)
	for a := p.prefix.Addr().Next(); a.IsValid() && p.prefix.Contains(a); a = a.Next() {
		if a.Is4() && a == last {
			break // the IPv4 broadcast address
		}
		if used[a] || p.isReserved(a) {
			continue
		}
		return a, true
	}
	return netip.Addr{}, false
}

func (p *tunnelPeers) isReserved(a netip.Addr) bool {
	for _, r := range p.reserved {
		if r.Contains(a) {
			return true
		}
	}
	return false
}

// lastAddr is the highest address of prefix.
func lastAddr(prefix netip.Prefix) netip.Addr {
	b := prefix.Masked().Addr().AsSlice()
	for i := prefix.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// drop removes agentID's peer from the database and the live device. It
// returns the removed peer, or nil when the agent had none.
func (p *tunnelPeers) drop(ctx context.Context, db store.MetaDB, agentID string) (*store.WireGuardPeer, error) {
	if p != nil {
		p.mu.Lock()
		defer p.mu.Unlock()
	}
	var removed *store.WireGuardPeer
	peers, err := db.ListWireGuardPeers(ctx)
	if err != nil {
		return nil, fmt.Errorf("relay: wireguard peers: %w", err)
	}
	for _, wp := range peers {
		if wp.AgentID == agentID {
			removed = &wp
		}
	}
	if removed != nil {
		if err := db.DeleteWireGuardPeer(ctx, agentID); err != nil && !errors.Is(err, store.ErrNotExist) {
			return nil, fmt.Errorf("relay: delete wireguard peer: %w", err)
		}
	}
	if p == nil {
		return removed, nil
	}
	if wp, ok := p.live[agentID]; ok {
		if err := p.tunnel.RemovePeer(transport.WireGuardKey(wp.PublicKey)); err != nil {
			return removed, fmt.Errorf("relay: %w", err)
		}
		delete(p.live, agentID)
	}
	return removed, nil
}

// wireGuardDetails are the audit details of an agent's peer: its public
// key (public, like the agent's certificate) and tunnel address.
func wireGuardDetails(wp store.WireGuardPeer, into map[string]any) map[string]any {
	if into == nil {
		into = map[string]any{}
	}
	into["wireguard_key"] = transport.WireGuardKey(wp.PublicKey).String()
	into["tunnel_ip"] = wp.TunnelIP.String()
	return into
}

// listenWireGuard completes a start with a tunnel (wg set): it restores the
// enrolled agents' peers from the database before any agent is told the
// relay is up, and with wgOnly opens the enrolment-only listener on the
// host network. Without a tunnel it returns nils.
func (s *Server) listenWireGuard(ctx context.Context, res *resources, up *transport.Server, wg *transport.WireGuardConfig, wgOnly bool) (*transport.Server, *tunnelPeers, error) {
	if wg == nil {
		return nil, nil, nil
	}
	peers, err := newTunnelPeers(s.cfg.WireGuard, wg, up)
	if err != nil {
		return nil, nil, err
	}
	if err := peers.sync(ctx, res.db); err != nil {
		return nil, nil, err
	}
	peers.mu.Lock()
	n := len(peers.live)
	peers.mu.Unlock()
	s.log.Info().Int("enrolled_peers", n).Str("agent_prefix", peers.prefix.String()).Msg("wireguard peers restored")
	if !wgOnly {
		return nil, peers, nil
	}
	tc := s.transportConfig(res)
	tc.EnrolOnly = true
	enrol, err := transport.Listen(context.WithoutCancel(ctx), tc)
	if err != nil {
		return nil, nil, fmt.Errorf("relay: enrolment listen: %w", err)
	}
	return enrol, peers, nil
}

// closeEnrol closes the enrolment-only listener, if any.
func closeEnrol(ctx context.Context, enrol *transport.Server) {
	if enrol != nil {
		enrol.Close(ctx)
	}
}

// tunnelPeers returns the running tunnel's peer manager, or nil.
func (s *Server) tunnelPeers() *tunnelPeers {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peers
}

// certNames are the names of the server certificate: Hostnames and the
// tunnel address, which agents inside the tunnel dial.
func (c *Config) certNames() []string {
	names := append([]string(nil), c.Hostnames...)
	if c.WireGuard != nil {
		if a, err := netip.ParseAddr(c.WireGuard.Address); err == nil && !slices.Contains(names, a.String()) {
			names = append(names, a.String())
		}
	}
	return names
}
