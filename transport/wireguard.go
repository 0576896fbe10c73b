package transport

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/device"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
	"gvisor.dev/gvisor/pkg/waiter"
)

// WireGuard defaults.
const (
	// DefaultWireGuardMTU fits a 1500-byte path: 1500 minus the outer IPv6
	// (40), UDP (8) and WireGuard (32) headers.
	DefaultWireGuardMTU = 1420
	// defaultWireGuardBatch is the packets moved per read and write between
	// the stack, the device and the socket (wireguard-go's ideal).
	defaultWireGuardBatch = conn.IdealBatchSize
	// defaultWireGuardQueue bounds the stack's outbound queue (packets).
	defaultWireGuardQueue = 4096
	// tunnelSocketBuffer is the receive and send buffer of the sockets
	// inside the stack (QUIC asks for 7 MiB on a real socket).
	tunnelSocketBuffer = 8 << 20
	// quicHeadroom is the inner IPv4 and UDP headers of a QUIC packet.
	quicHeadroom = 28
	// maxQUICPacket is the largest QUIC packet quic-go sends.
	maxQUICPacket = 1452
)

// WireGuardConfig brings up a userspace WireGuard tunnel (wireguard-go over
// a gVisor network stack): no root, no kernel module, no TUN device. The
// tunnel's addresses exist only inside this process.
type WireGuardConfig struct {
	// PrivateKey is this side's key (`dicomgate wg keygen`). Required.
	PrivateKey WireGuardKey `yaml:"-"`
	// Address is this side's IP inside the tunnel, e.g. 10.99.0.1 on the
	// relay and 10.99.0.2 on an agent. Required.
	Address netip.Addr `yaml:"address"`
	// ListenAddr is the host:port of the WireGuard UDP socket on the host
	// network. A relay listens on a fixed port (e.g. ":51820"); an agent
	// uses port 0. Default ":0".
	ListenAddr string `yaml:"listen"`
	// Peers are the other sides allowed in. A handshake from any other key
	// gets no answer.
	Peers []WireGuardPeer `yaml:"peers"`
	// MTU is the tunnel's MTU. QUIC inside sizes its packets to fit it (up to
	// quic-go's 1452 bytes, reached from MTU 1480). Default 1420.
	MTU int `yaml:"mtu"`
	// BatchSize is the packets moved per read or write between the stack,
	// the device and the socket; 1 reproduces wireguard-go's netstack
	// behaviour (one packet per sendmmsg). Default 128.
	BatchSize int `yaml:"batch_size"`
}

// WireGuardPeer is one peer of a tunnel.
type WireGuardPeer struct {
	// PublicKey is the peer's public key. Required.
	PublicKey WireGuardKey `yaml:"-"`
	// Endpoint is the peer's host:port on the host network; an agent sets
	// the relay's, a relay leaves it empty and learns it from handshakes.
	Endpoint string `yaml:"endpoint"`
	// AllowedIPs are the tunnel addresses the peer may use, e.g.
	// 10.99.0.2/32 for an agent or 10.99.0.1/32 for the relay. Required.
	AllowedIPs []netip.Prefix `yaml:"allowed_ips"`
	// PersistentKeepalive keeps NAT mappings open; agents behind NAT set
	// e.g. 25s. Default 0 (off).
	PersistentKeepalive time.Duration `yaml:"persistent_keepalive"`
}

// validate checks cfg and fills defaults.
func (cfg *WireGuardConfig) validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("transport: wireguard: "+format, args...))
	}
	if cfg.PrivateKey.IsZero() {
		bad("private key is required")
	}
	if !cfg.Address.IsValid() {
		bad("tunnel address is required")
	}
	if cfg.ListenAddr == "" {
		cfg.ListenAddr = ":0"
	}
	if cfg.MTU == 0 {
		cfg.MTU = DefaultWireGuardMTU
	}
	if cfg.MTU < 1280 || cfg.MTU > 65535-80 {
		bad("mtu %d is outside 1280..65455", cfg.MTU)
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = defaultWireGuardBatch
	}
	for i, p := range cfg.Peers {
		if p.PublicKey.IsZero() {
			bad("peers[%d]: public key is required", i)
		}
		if len(p.AllowedIPs) == 0 {
			bad("peers[%d]: allowed ips are required", i)
		}
	}
	return errors.Join(errs...)
}

// quicPacketSize is the QUIC packet size that fits the tunnel MTU. quic-go
// cannot discover the path MTU inside the stack (no DF bit), so it is set.
func (cfg *WireGuardConfig) quicPacketSize() uint16 {
	return uint16(min(maxQUICPacket, cfg.MTU-quicHeadroom))
}

// Tunnel is a running userspace WireGuard device with its own network
// stack. Connections made through it ([Tunnel.ListenPacket],
// [Tunnel.Listen], [Tunnel.DialContext]) reach only the tunnel's peers.
type Tunnel struct {
	log  zerolog.Logger
	cfg  WireGuardConfig
	tun  *netstackTUN
	bind *udpBind
	dev  *device.Device
}

// NewTunnel brings up the tunnel: it binds cfg.ListenAddr and configures
// the peers. Close releases everything.
func NewTunnel(log zerolog.Logger, cfg WireGuardConfig) (*Tunnel, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	tn, err := newNetstackTUN(cfg.Address, cfg.MTU, cfg.BatchSize, defaultWireGuardQueue)
	if err != nil {
		return nil, err
	}
	t := &Tunnel{log: log, cfg: cfg, tun: tn, bind: newUDPBind(cfg.ListenAddr, cfg.BatchSize)}
	t.dev = device.NewDevice(tn, t.bind, wireGuardLogger(log))
	uapi, err := t.uapi()
	if err == nil {
		err = t.dev.IpcSet(uapi)
	}
	if err == nil {
		err = t.dev.Up()
	}
	if err != nil {
		t.dev.Close()
		return nil, fmt.Errorf("transport: wireguard: %w", err)
	}
	log.Info().Str("wg_listen", t.bind.LocalAddr().String()).Str("tunnel_addr", cfg.Address.String()).
		Int("peers", len(cfg.Peers)).Int("mtu", cfg.MTU).Msg("wireguard tunnel up")
	return t, nil
}

// uapi renders the device configuration (wireguard-go's text protocol).
func (t *Tunnel) uapi() (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "private_key=%s\nreplace_peers=true\n", t.cfg.PrivateKey.hex())
	for _, p := range t.cfg.Peers {
		s, err := peerUAPI(p)
		if err != nil {
			return "", err
		}
		b.WriteString(s)
	}
	return b.String(), nil
}

// peerUAPI renders one peer; a host name endpoint is resolved here.
func peerUAPI(p WireGuardPeer) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "public_key=%s\nreplace_allowed_ips=true\n", p.PublicKey.hex())
	if p.Endpoint != "" {
		ua, err := net.ResolveUDPAddr("udp", p.Endpoint)
		if err != nil {
			return "", fmt.Errorf("peer endpoint: %w", err)
		}
		fmt.Fprintf(&b, "endpoint=%s\n", ua.AddrPort())
	}
	if p.PersistentKeepalive > 0 {
		fmt.Fprintf(&b, "persistent_keepalive_interval=%d\n", int(p.PersistentKeepalive/time.Second))
	}
	for _, ip := range p.AllowedIPs {
		fmt.Fprintf(&b, "allowed_ip=%s\n", ip)
	}
	return b.String(), nil
}

// AddPeer adds a peer to the running tunnel, or replaces the allowed IPs
// and endpoint of an existing one (enrolment registers agents this way).
func (t *Tunnel) AddPeer(p WireGuardPeer) error {
	if p.PublicKey.IsZero() || len(p.AllowedIPs) == 0 {
		return errors.New("transport: wireguard: peer needs a public key and allowed ips")
	}
	s, err := peerUAPI(p)
	if err == nil {
		err = t.dev.IpcSet(s)
	}
	if err != nil {
		return fmt.Errorf("transport: wireguard: add peer: %w", err)
	}
	return nil
}

// RemovePeer removes a peer (a revoked agent); its sessions end at once.
func (t *Tunnel) RemovePeer(key WireGuardKey) error {
	if err := t.dev.IpcSet(fmt.Sprintf("public_key=%s\nremove=true\n", key.hex())); err != nil {
		return fmt.Errorf("transport: wireguard: remove peer: %w", err)
	}
	return nil
}

// Addr is this side's address inside the tunnel.
func (t *Tunnel) Addr() netip.Addr { return t.cfg.Address }

// Endpoint is the WireGuard UDP socket's address on the host network.
func (t *Tunnel) Endpoint() net.Addr { return t.bind.LocalAddr() }

// ListenPacket opens a UDP socket inside the tunnel on port (0 picks one),
// for quic.Transport. Its buffers are sized for QUIC.
func (t *Tunnel) ListenPacket(port uint16) (net.PacketConn, error) {
	proto := t.protocol()
	var wq waiter.Queue
	ep, terr := t.tun.stack.NewEndpoint(udp.ProtocolNumber, proto, &wq)
	if terr != nil {
		return nil, fmt.Errorf("transport: tunnel udp: %s", terr)
	}
	ep.SocketOptions().SetReceiveBufferSize(tunnelSocketBuffer, false)
	ep.SocketOptions().SetSendBufferSize(tunnelSocketBuffer, false)
	if terr := ep.Bind(t.fullAddr(port)); terr != nil {
		ep.Close()
		return nil, fmt.Errorf("transport: tunnel udp bind: %s", terr)
	}
	return &tunnelPacketConn{UDPConn: gonet.NewUDPConn(&wq, ep)}, nil
}

// DialPacket opens a UDP socket inside the tunnel connected to raddr, for
// a quic.Transport that dials one relay. Writes to raddr take the route
// found once at connect time (an unconnected socket looks it up for every
// packet); packets from any other address are not received.
func (t *Tunnel) DialPacket(raddr netip.AddrPort) (net.PacketConn, error) {
	proto := t.protocol()
	var wq waiter.Queue
	ep, terr := t.tun.stack.NewEndpoint(udp.ProtocolNumber, proto, &wq)
	if terr != nil {
		return nil, fmt.Errorf("transport: tunnel udp: %s", terr)
	}
	ep.SocketOptions().SetReceiveBufferSize(tunnelSocketBuffer, false)
	ep.SocketOptions().SetSendBufferSize(tunnelSocketBuffer, false)
	if terr := ep.Bind(t.fullAddr(0)); terr != nil {
		ep.Close()
		return nil, fmt.Errorf("transport: tunnel udp bind: %s", terr)
	}
	fa := tcpip.FullAddress{NIC: nicID, Addr: tcpip.AddrFromSlice(raddr.Addr().AsSlice()), Port: raddr.Port()}
	if terr := ep.Connect(fa); terr != nil {
		ep.Close()
		return nil, fmt.Errorf("transport: tunnel udp connect: %s", terr)
	}
	return &connectedPacketConn{tunnelPacketConn{UDPConn: gonet.NewUDPConn(&wq, ep)}, raddr}, nil
}

// Listen opens a TCP listener inside the tunnel on port.
func (t *Tunnel) Listen(port uint16) (net.Listener, error) {
	l, err := gonet.ListenTCP(t.tun.stack, t.fullAddr(port), t.protocol())
	if err != nil {
		return nil, fmt.Errorf("transport: tunnel tcp listen: %w", err)
	}
	return l, nil
}

// DialContext opens a TCP connection inside the tunnel to addr.
func (t *Tunnel) DialContext(ctx context.Context, addr netip.AddrPort) (net.Conn, error) {
	fa := tcpip.FullAddress{NIC: nicID, Addr: tcpip.AddrFromSlice(addr.Addr().AsSlice()), Port: addr.Port()}
	c, err := gonet.DialContextTCP(ctx, t.tun.stack, fa, t.protocol())
	if err != nil {
		return nil, fmt.Errorf("transport: tunnel tcp dial: %w", err)
	}
	return c, nil
}

// Close takes the tunnel down: every connection through it fails.
func (t *Tunnel) Close() error {
	t.dev.Close() // closes the bind and the stack
	return nil
}

func (t *Tunnel) protocol() tcpip.NetworkProtocolNumber {
	if t.cfg.Address.Is6() {
		return ipv6.ProtocolNumber
	}
	return ipv4.ProtocolNumber
}

func (t *Tunnel) fullAddr(port uint16) tcpip.FullAddress {
	return tcpip.FullAddress{NIC: nicID, Addr: tcpip.AddrFromSlice(t.cfg.Address.AsSlice()), Port: port}
}

// tunnelPacketConn is a UDP socket inside the stack. SetReadBuffer and
// SetWriteBuffer are no-ops (ListenPacket already sized the buffers): they
// exist so quic-go does not warn about a socket it cannot tune.
type tunnelPacketConn struct{ *gonet.UDPConn }

func (c *tunnelPacketConn) SetReadBuffer(int) error  { return nil }
func (c *tunnelPacketConn) SetWriteBuffer(int) error { return nil }

// connectedPacketConn is a UDP socket inside the stack connected to one
// peer: WriteTo that peer sends on the connected route.
type connectedPacketConn struct {
	tunnelPacketConn
	remote netip.AddrPort
}

// WriteTo implements net.PacketConn.
func (c *connectedPacketConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	if ua, ok := addr.(*net.UDPAddr); ok && ua.Port == int(c.remote.Port()) && ua.IP.Equal(c.remote.Addr().AsSlice()) {
		return c.UDPConn.Write(b)
	}
	return c.UDPConn.WriteTo(b, addr)
}

// wireGuardLogger maps wireguard-go's logger to zerolog: its verbose lines
// at trace level, its errors at debug (a lost handshake is routine).
func wireGuardLogger(log zerolog.Logger) *device.Logger {
	return &device.Logger{
		Verbosef: func(format string, args ...any) { log.Trace().Str("component", "wireguard").Msgf(format, args...) },
		Errorf:   func(format string, args ...any) { log.Debug().Str("component", "wireguard").Msgf(format, args...) },
	}
}
