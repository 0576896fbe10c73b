package transport

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"
	"sync"

	"github.com/quic-go/quic-go"
)

// clientTunnel is the WireGuard side of a client Conn.
type clientTunnel struct {
	tunnel *Tunnel
	pc     net.PacketConn  // QUIC's socket inside the tunnel, or nil
	tr     *quic.Transport // on pc, or nil
	close  sync.Once
}

// openTunnel brings up the tunnel when cfg.WireGuard is set.
func (c *Conn) openTunnel() error {
	if c.cfg.WireGuard == nil {
		return nil
	}
	if _, err := netip.ParseAddrPort(c.cfg.Addr); err != nil {
		return fmt.Errorf("transport: relay address inside the tunnel must be ip:port: %w", err)
	}
	t, err := NewTunnel(c.log, *c.cfg.WireGuard)
	if err != nil {
		return err
	}
	c.wg = &clientTunnel{tunnel: t}
	return nil
}

// closeTunnel closes QUIC's socket and takes the tunnel down.
func (c *Conn) closeTunnel() {
	if c.wg == nil {
		return
	}
	c.wg.close.Do(func() {
		if c.wg.tr != nil {
			c.wg.tr.Close()
			c.wg.pc.Close()
		}
		c.wg.tunnel.Close()
	})
}

// dialQUIC dials the relay over QUIC, inside the tunnel when there is one.
func (c *Conn) dialQUIC(ctx context.Context, tlsConf *tls.Config, qconf *quic.Config) (*quic.Conn, error) {
	if c.wg == nil {
		return quic.DialAddr(ctx, c.cfg.Addr, tlsConf, qconf)
	}
	ap := netip.MustParseAddrPort(c.cfg.Addr) // checked by openTunnel
	if c.wg.tr == nil {
		pc, err := c.wg.tunnel.DialPacket(ap)
		if err != nil {
			return nil, err
		}
		c.wg.pc, c.wg.tr = pc, &quic.Transport{Conn: pc}
	}
	qconf = qconf.Clone()
	qconf.InitialPacketSize = c.wg.tunnel.cfg.quicPacketSize()
	return c.wg.tr.Dial(ctx, net.UDPAddrFromAddrPort(ap), tlsConf, qconf)
}

// dialTLS opens a TLS-over-TCP connection to the relay, inside the tunnel
// when there is one.
func (c *Conn) dialTLS(ctx context.Context) (*tls.Conn, error) {
	if c.wg == nil {
		d := tls.Dialer{NetDialer: &net.Dialer{}, Config: c.tlsConf}
		nc, err := d.DialContext(ctx, "tcp", c.cfg.Addr)
		if err != nil {
			return nil, err
		}
		return nc.(*tls.Conn), nil
	}
	raw, err := c.wg.tunnel.DialContext(ctx, netip.MustParseAddrPort(c.cfg.Addr))
	if err != nil {
		return nil, err
	}
	tc := tls.Client(raw, c.tlsConf)
	if err := tc.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, err
	}
	return tc, nil
}
