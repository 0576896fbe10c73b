package transport

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.zx2c4.com/wireguard/conn"
)

// wgSocketBuffer is the UDP socket buffer size a tunnel asks for.
const wgSocketBuffer = 7 << 20

// udpBind is a conn.Bind on one UDP socket bound to a chosen address (unlike
// conn.StdNetBind, which binds every interface). It moves packets in batches
// (recvmmsg/sendmmsg) and, on Linux, coalesces same-sized packets to one
// destination into a single UDP GSO write and reads GRO-coalesced packets.
type udpBind struct {
	addr  string // host:port to bind; the port is used when Open gets 0
	batch int

	mu sync.Mutex
	// +checklocks:mu
	conn *net.UDPConn
	// +checklocks:mu
	bc batchConn
	// +checklocks:mu
	gso, gro bool

	msgs sync.Pool // *[]ipv6.Message of batch entries with OOB room
}

// batchConn is what ipv4.PacketConn and ipv6.PacketConn share.
type batchConn interface {
	ReadBatch(ms []ipv6.Message, flags int) (int, error)
	WriteBatch(ms []ipv6.Message, flags int) (int, error)
}

var _ conn.Bind = (*udpBind)(nil)

func newUDPBind(addr string, batch int) *udpBind {
	b := &udpBind{addr: addr, batch: batch}
	b.msgs.New = func() any {
		ms := make([]ipv6.Message, batch)
		for i := range ms {
			// Room for a GSO message's segments, one iovec each.
			ms[i].Buffers = make([][]byte, 1, max(1, maxGSOSegments))
			ms[i].OOB = make([]byte, 0, offloadControlSize)
		}
		return &ms
	}
	return b
}

// Open implements conn.Bind.
func (b *udpBind) Open(port uint16) ([]conn.ReceiveFunc, uint16, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.conn != nil {
		return nil, 0, conn.ErrBindAlreadyOpen
	}
	host, p, err := net.SplitHostPort(b.addr)
	if err != nil {
		return nil, 0, fmt.Errorf("transport: wireguard listen address: %w", err)
	}
	if port != 0 {
		p = strconv.Itoa(int(port))
	}
	ua, err := net.ResolveUDPAddr("udp", net.JoinHostPort(host, p))
	if err != nil {
		return nil, 0, fmt.Errorf("transport: wireguard listen address: %w", err)
	}
	c, err := net.ListenUDP("udp", ua)
	if err != nil {
		return nil, 0, fmt.Errorf("transport: wireguard listen: %w", err)
	}
	c.SetReadBuffer(wgSocketBuffer)
	c.SetWriteBuffer(wgSocketBuffer)
	local := c.LocalAddr().(*net.UDPAddr)
	if local.IP.To4() != nil {
		b.bc = ipv4.NewPacketConn(c)
	} else {
		b.bc = ipv6.NewPacketConn(c)
	}
	b.conn = c
	// GRO needs room to split a coalesced read into the batch.
	b.gso, b.gro = enableOffload(c, b.batch >= 2*maxGSOSegments)
	gro := b.gro
	bc := b.bc
	recv := func(bufs [][]byte, sizes []int, eps []conn.Endpoint) (int, error) {
		return b.receive(bc, gro, bufs, sizes, eps)
	}
	return []conn.ReceiveFunc{recv}, uint16(local.Port), nil
}

// receive reads one batch. With GRO, it reads into the last few buffers
// and splits each coalesced datagram into the buffers from the first one on.
func (b *udpBind) receive(bc batchConn, gro bool, bufs [][]byte, sizes []int, eps []conn.Endpoint) (int, error) {
	msp := b.msgs.Get().(*[]ipv6.Message)
	defer b.msgs.Put(msp)
	ms := (*msp)[:len(bufs)]
	readAt := 0
	if gro {
		readAt = len(ms) - max(1, len(ms)/maxGSOSegments)
	}
	for i := readAt; i < len(ms); i++ {
		ms[i].Buffers = append(ms[i].Buffers[:0], bufs[i])
		ms[i].OOB = ms[i].OOB[:cap(ms[i].OOB)]
	}
	n, err := bc.ReadBatch(ms[readAt:], 0)
	if err != nil {
		return 0, err
	}
	out := 0
	var last *udpEndpoint
	for i := readAt; i < readAt+n; i++ {
		m := &ms[i]
		seg := m.N
		if gro {
			if s := groSize(m.OOB[:m.NN]); s > 0 {
				seg = s
			}
		}
		ua, ok := m.Addr.(*net.UDPAddr)
		if !ok {
			continue
		}
		ap := netip.AddrPortFrom(ua.AddrPort().Addr().Unmap(), ua.AddrPort().Port())
		if last == nil || last.AddrPort != ap {
			last = &udpEndpoint{AddrPort: ap}
		}
		src := bufs[i][:m.N]
		for off := 0; off < len(src) && out < len(bufs); off += seg {
			end := min(off+seg, len(src))
			sizes[out] = copy(bufs[out], src[off:end])
			eps[out] = last
			out++
		}
	}
	return out, nil
}

// Send implements conn.Bind.
func (b *udpBind) Send(bufs [][]byte, ep conn.Endpoint) error {
	b.mu.Lock()
	bc, c, gso := b.bc, b.conn, b.gso
	b.mu.Unlock()
	if c == nil {
		return net.ErrClosed
	}
	ue, ok := ep.(*udpEndpoint)
	if !ok {
		return conn.ErrWrongEndpointType
	}
	addr := net.UDPAddrFromAddrPort(ue.AddrPort)
	msp := b.msgs.Get().(*[]ipv6.Message)
	defer b.msgs.Put(msp)
	ms := *msp
	n := 0
	if gso {
		n = coalesce(addr, bufs, ms)
	} else {
		for i, buf := range bufs {
			ms[i].Buffers, ms[i].OOB, ms[i].Addr = append(ms[i].Buffers[:0], buf), ms[i].OOB[:0], addr
		}
		n = len(bufs)
	}
	for start := 0; start < n; {
		w, err := bc.WriteBatch(ms[start:n], 0)
		if err != nil {
			if gso && isGSOError(err) {
				b.mu.Lock()
				b.gso = false
				b.mu.Unlock()
				return fmt.Errorf("transport: wireguard send: udp gso disabled: %w", err)
			}
			return err
		}
		start += w
	}
	return nil
}

// coalesce packs runs of equal-sized packets (the last of a run may be
// shorter) into one message each, with a UDP_SEGMENT control message. The
// packets stay where they are: each is one iovec of the message, which
// the kernel gathers and cuts at the segment size (no copy here). It
// returns the messages used.
func coalesce(addr *net.UDPAddr, bufs [][]byte, ms []ipv6.Message) int {
	n := -1
	seg, count, total, closed := 0, 0, 0, true
	for _, buf := range bufs {
		if n >= 0 && !closed && len(buf) <= seg && count < maxGSOSegments && total+len(buf) <= maxGSOPayload {
			ms[n].Buffers = append(ms[n].Buffers, buf)
			count++
			total += len(buf)
			closed = len(buf) < seg
			if count == 2 {
				setGSOSize(&ms[n].OOB, seg)
			}
			continue
		}
		n++
		ms[n].Buffers, ms[n].OOB, ms[n].Addr = append(ms[n].Buffers[:0], buf), ms[n].OOB[:0], addr
		seg, count, total, closed = len(buf), 1, len(buf), false
	}
	return n + 1
}

// Close implements conn.Bind.
func (b *udpBind) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.conn == nil {
		return nil
	}
	err := b.conn.Close()
	b.conn, b.bc = nil, nil
	return err
}

// LocalAddr returns the bound address, or nil when closed.
func (b *udpBind) LocalAddr() net.Addr {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.conn == nil {
		return nil
	}
	return b.conn.LocalAddr()
}

// SetMark implements conn.Bind; marks are not used.
func (b *udpBind) SetMark(uint32) error { return nil }

// BatchSize implements conn.Bind.
func (b *udpBind) BatchSize() int { return b.batch }

// ParseEndpoint implements conn.Bind: s is ip:port.
func (b *udpBind) ParseEndpoint(s string) (conn.Endpoint, error) {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return nil, fmt.Errorf("transport: wireguard endpoint: %w", err)
	}
	return &udpEndpoint{AddrPort: netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())}, nil
}

// udpEndpoint is a peer's UDP address.
type udpEndpoint struct{ netip.AddrPort }

var _ conn.Endpoint = (*udpEndpoint)(nil)

func (e *udpEndpoint) ClearSrc()           {}
func (e *udpEndpoint) SrcToString() string { return "" }
func (e *udpEndpoint) DstToString() string { return e.AddrPort.String() }
func (e *udpEndpoint) DstIP() netip.Addr   { return e.AddrPort.Addr() }
func (e *udpEndpoint) SrcIP() netip.Addr   { return netip.Addr{} }
func (e *udpEndpoint) DstToBytes() []byte {
	b, _ := e.AddrPort.MarshalBinary()
	return b
}
