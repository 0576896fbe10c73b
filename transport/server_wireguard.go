package transport

import (
	"context"
	"fmt"
	"net"
	"strconv"
)

// DefaultTunnelPort is the port the relay serves on inside a WireGuard
// tunnel when ServerConfig.Addr has port 0.
const DefaultTunnelPort = 7443

// wireGuardServer is the WireGuard side of a Server: the tunnel it serves
// inside (WireGuardOnly), or the inner Server that does (both).
type wireGuardServer struct {
	tunnel *Tunnel
	inner  *Server
}

// listenSockets returns the sockets Listen serves: on the host (Addr),
// inside the tunnel (WireGuardOnly), or on the host with an inner Server
// serving the tunnel (WireGuard set, WireGuardOnly false).
func (s *Server) listenSockets(ctx context.Context) (net.PacketConn, net.Listener, error) {
	cfg := s.cfg
	wantUDP, wantTCP := !cfg.DisableQUIC, !cfg.DisableTCP
	if cfg.WireGuard == nil {
		return bindPair(cfg.Addr, wantUDP, wantTCP)
	}
	if !cfg.WireGuardOnly {
		tc := cfg
		tc.WireGuardOnly = true
		inner, err := Listen(ctx, tc)
		if err != nil {
			return nil, nil, err
		}
		u, t, err := bindPair(cfg.Addr, wantUDP, wantTCP)
		if err != nil {
			inner.Close(ctx)
			return nil, nil, err
		}
		s.wg = &wireGuardServer{inner: inner}
		return u, t, nil
	}
	tunnel, err := NewTunnel(s.log, *cfg.WireGuard)
	if err != nil {
		return nil, nil, err
	}
	port := tunnelPort(cfg.Addr)
	var u net.PacketConn
	var t net.Listener
	if wantUDP {
		u, err = tunnel.ListenPacket(port)
	}
	if err == nil && wantTCP {
		t, err = tunnel.Listen(port)
	}
	if err != nil {
		if u != nil {
			u.Close()
		}
		tunnel.Close()
		return nil, nil, err
	}
	s.wg = &wireGuardServer{tunnel: tunnel}
	return u, t, nil
}

// tunnelPort is the port of addr, or DefaultTunnelPort.
func tunnelPort(addr string) uint16 {
	_, p, err := net.SplitHostPort(addr)
	if n, perr := strconv.ParseUint(p, 10, 16); err == nil && perr == nil && n != 0 {
		return uint16(n)
	}
	return DefaultTunnelPort
}

// quicPacketSize is the QUIC packet size for the sockets served: sized to
// the tunnel MTU inside WireGuard, quic-go's default (0) elsewhere.
func (s *Server) quicPacketSize() uint16 {
	if s.wg != nil && s.wg.tunnel != nil {
		return s.cfg.WireGuard.quicPacketSize()
	}
	return 0
}

// Tunnel returns the WireGuard tunnel the server serves in, or nil. The
// relay adds enrolled agents with [Tunnel.AddPeer].
func (s *Server) Tunnel() *Tunnel {
	switch {
	case s.wg == nil:
		return nil
	case s.wg.inner != nil:
		return s.wg.inner.Tunnel()
	}
	return s.wg.tunnel
}

// TunnelAddr returns the address served inside the tunnel, or nil.
func (s *Server) TunnelAddr() net.Addr {
	switch {
	case s.wg == nil:
		return nil
	case s.wg.inner != nil:
		return s.wg.inner.Addr()
	}
	return s.addr
}

// closeWireGuard closes the inner server or the tunnel, after the sockets
// served inside it.
func (s *Server) closeWireGuard(ctx context.Context) error {
	switch {
	case s.wg == nil:
		return nil
	case s.wg.inner != nil:
		return s.wg.inner.Close(ctx)
	}
	if err := s.wg.tunnel.Close(); err != nil {
		return fmt.Errorf("transport: close tunnel: %w", err)
	}
	return nil
}
