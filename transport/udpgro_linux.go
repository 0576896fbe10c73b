package transport

import (
	"encoding/binary"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// groBatch is how many datagrams one read asks the kernel for, and
// groBufSize the room for each: a coalesced datagram holds up to 64 KiB.
const (
	groBatch   = 8
	groBufSize = 1<<16 + 1<<10
	// groOOBSize holds a UDP_GRO and an IPv6 (the larger) packet-info
	// control message.
	groOOBSize = 128
	// groReplyAddrs bounds the remembered local addresses of the peers of
	// a wildcard socket; when full it starts again (a peer's next packet
	// puts it back).
	groReplyAddrs = 4096
)

// groConn is the relay's UDP socket with UDP_GRO on: the kernel hands over
// the datagrams of a flow that arrive together (a sender's GSO batch, or
// the packets a NIC's GRO merged) as one buffer of equal-sized segments
// instead of one socket-queue entry and one copy per packet. groConn reads
// those buffers up to groBatch at a time (recvmmsg) and serves quic-go one
// packet per ReadFrom, from memory. On loopback a sender's GSO batch then
// crosses the kernel whole: ~40 % less system CPU for a bulk upload
// (BENCHMARKS.md).
//
// quic-go (v0.65) reads a socket itself only when it is a *net.UDPConn, and
// then without GRO; given a groConn it takes its plain net.PacketConn path
// (no ReadMsgUDP here, on purpose). What that path leaves out, groConn
// does itself or does without:
//   - on a socket bound to a wildcard address it records the local address
//     each peer sent to (IP_PKTINFO) and sends its replies from there, as
//     quic-go does, so that a multi-homed relay answers from the address
//     an agent knows;
//   - ECN marks of received packets are not read: the agent's congestion
//     control is then loss-based, as it is on any path that clears ECN
//     (measured equal on loopback, BENCHMARKS.md session 6).
type groConn struct {
	c        *net.UDPConn
	batch    *ipv4.PacketConn // recvmmsg on c, for either address family
	wildcard bool

	mu   sync.Mutex
	msgs []ipv4.Message // +checklocks:mu
	next int            // +checklocks:mu; next message of msgs to serve
	n    int            // +checklocks:mu; messages read into msgs
	rest []byte         // +checklocks:mu; unserved segments of the message served
	seg  int            // +checklocks:mu; their size
	from net.Addr       // +checklocks:mu; their sender

	replyMu sync.RWMutex
	replyTo map[netip.AddrPort]replyInfo // +checklocks:replyMu; per peer

	coalesced atomic.Int64 // datagrams read that held more than one packet
}

// wrapGRO returns u behind a groConn when the kernel takes UDP_GRO (and,
// on a wildcard address, packet info) on it, or u itself otherwise.
func wrapGRO(u net.PacketConn) net.PacketConn {
	uc, ok := u.(*net.UDPConn)
	if !ok {
		return u
	}
	la, ok := uc.LocalAddr().(*net.UDPAddr)
	if !ok {
		return u
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return u
	}
	wildcard := la.IP.IsUnspecified()
	var groErr, pi4Err, pi6Err error
	if err := raw.Control(func(fd uintptr) {
		groErr = unix.SetsockoptInt(int(fd), unix.IPPROTO_UDP, unix.UDP_GRO, 1)
		if wildcard {
			pi4Err = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_PKTINFO, 1)
			pi6Err = unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO, 1)
		}
	}); err != nil || groErr != nil || (pi4Err != nil && pi6Err != nil) {
		if groErr == nil && err == nil {
			_ = raw.Control(func(fd uintptr) { _ = unix.SetsockoptInt(int(fd), unix.IPPROTO_UDP, unix.UDP_GRO, 0) })
		}
		return u
	}
	g := &groConn{c: uc, batch: ipv4.NewPacketConn(uc), wildcard: wildcard,
		msgs: make([]ipv4.Message, groBatch), replyTo: map[netip.AddrPort]replyInfo{}}
	for i := range g.msgs {
		g.msgs[i].Buffers = [][]byte{make([]byte, groBufSize)}
		g.msgs[i].OOB = make([]byte, groOOBSize)
	}
	return g
}

// ReadFrom returns the next packet: the next segment of the datagram being
// served, or the first of the next one read.
func (g *groConn) ReadFrom(p []byte) (int, net.Addr, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for len(g.rest) == 0 {
		if g.next == g.n {
			n, err := g.batch.ReadBatch(g.msgs, 0)
			if err != nil {
				return 0, nil, err
			}
			g.next, g.n = 0, n
			continue
		}
		m := &g.msgs[g.next]
		g.next++
		if m.Flags&unix.MSG_TRUNC != 0 {
			continue // larger than any datagram can be: dropped, as a lost one
		}
		g.rest, g.from = m.Buffers[0][:m.N], m.Addr
		g.seg = g.control(m.OOB[:m.NN], m.Addr)
		if g.seg <= 0 || g.seg >= m.N {
			g.seg = m.N
		} else {
			g.coalesced.Add(1)
		}
	}
	k := min(g.seg, len(g.rest))
	n := copy(p, g.rest[:k])
	g.rest = g.rest[k:]
	return n, g.from, nil
}

// control reads the control messages of a datagram from peer: it returns
// its segment size (0 when the kernel did not coalesce it) and, on a
// wildcard socket, remembers the local address peer sent to.
func (g *groConn) control(oob []byte, peer net.Addr) int {
	seg := 0
	var v4, v6 []byte // IP_PKTINFO and IPV6_PKTINFO bodies
	for len(oob) > 0 {
		h, body, rest, err := unix.ParseOneSocketControlMessage(oob)
		if err != nil {
			break
		}
		oob = rest
		switch {
		case h.Level == unix.SOL_UDP && h.Type == unix.UDP_GRO && len(body) >= 4:
			seg = int(binary.NativeEndian.Uint32(body))
		case h.Level == unix.IPPROTO_IP && h.Type == unix.IP_PKTINFO && len(body) == 12:
			v4 = body // struct in_pktinfo { int ifindex; in_addr spec_dst; in_addr addr; }
		case h.Level == unix.IPPROTO_IPV6 && h.Type == unix.IPV6_PKTINFO && len(body) == 20:
			v6 = body // struct in6_pktinfo { in6_addr addr; int ifindex; }
		}
	}
	if !g.wildcard {
		return seg
	}
	// An IPv4 packet on a dual-stack socket comes with both: it is
	// answered as quic-go does, with IP_PKTINFO from its IPv4 address.
	switch {
	case v4 != nil:
		g.rememberReply(peer, v4, func() []byte {
			cm := ipv4.ControlMessage{Src: net.IP(v4[8:12]), IfIndex: int(binary.NativeEndian.Uint32(v4))}
			return cm.Marshal()
		})
	case v6 != nil && net.IP(v6[:16]).To4() != nil:
		g.rememberReply(peer, v6, func() []byte {
			cm := ipv4.ControlMessage{Src: net.IP(v6[:16]).To4(), IfIndex: int(binary.NativeEndian.Uint32(v6[16:]))}
			return cm.Marshal()
		})
	case v6 != nil:
		g.rememberReply(peer, v6, func() []byte {
			cm := ipv6.ControlMessage{Src: net.IP(v6[:16]), IfIndex: int(binary.NativeEndian.Uint32(v6[16:]))}
			return cm.Marshal()
		})
	}
	return seg
}

// replyInfo is the local address a peer sent to: the packet info received
// and the control message that sends from there.
type replyInfo struct {
	received string
	send     []byte
}

// rememberReply records the control message that sends from the address
// peer sent to, unless it is recorded already. info is the packet info
// received, marshal makes the message to send.
func (g *groConn) rememberReply(peer net.Addr, info []byte, marshal func() []byte) {
	ua, ok := peer.(*net.UDPAddr)
	if !ok {
		return
	}
	key := ua.AddrPort()
	g.replyMu.RLock()
	old, ok := g.replyTo[key]
	g.replyMu.RUnlock()
	if ok && old.received == string(info) {
		return
	}
	g.replyMu.Lock()
	defer g.replyMu.Unlock()
	if len(g.replyTo) >= groReplyAddrs {
		clear(g.replyTo)
	}
	g.replyTo[key] = replyInfo{received: string(info), send: marshal()}
}

// WriteTo sends one datagram to addr, from the local address addr last
// sent to when the socket is bound to a wildcard address.
func (g *groConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !g.wildcard || !ok {
		return g.c.WriteTo(p, addr)
	}
	g.replyMu.RLock()
	ri := g.replyTo[ua.AddrPort()]
	g.replyMu.RUnlock()
	n, _, err := g.c.WriteMsgUDP(p, ri.send, ua)
	return n, err
}

// Close closes the socket.
func (g *groConn) Close() error { return g.c.Close() }

// LocalAddr returns the socket's address.
func (g *groConn) LocalAddr() net.Addr { return g.c.LocalAddr() }

// SetDeadline sets the socket's read and write deadlines.
func (g *groConn) SetDeadline(t time.Time) error { return g.c.SetDeadline(t) }

// SetReadDeadline sets the deadline of the reads behind ReadFrom.
func (g *groConn) SetReadDeadline(t time.Time) error { return g.c.SetReadDeadline(t) }

// SetWriteDeadline sets the socket's write deadline.
func (g *groConn) SetWriteDeadline(t time.Time) error { return g.c.SetWriteDeadline(t) }

// SetReadBuffer sets the socket's receive buffer (quic-go asks for 7 MiB).
func (g *groConn) SetReadBuffer(n int) error { return g.c.SetReadBuffer(n) }

// SetWriteBuffer sets the socket's send buffer.
func (g *groConn) SetWriteBuffer(n int) error { return g.c.SetWriteBuffer(n) }

// SyscallConn gives quic-go the socket, to set its don't-fragment option.
func (g *groConn) SyscallConn() (syscall.RawConn, error) { return g.c.SyscallConn() }

var _ net.PacketConn = (*groConn)(nil)
