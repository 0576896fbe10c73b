package e2e

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// faults configures a [faultProxy]. The zero value forwards untouched.
type faults struct {
	// Drop is the probability that a datagram is dropped.
	Drop float64
	// Dup is the probability that a datagram is sent twice.
	Dup float64
	// Reorder is the probability that a datagram is held back by up to
	// ReorderWindow on top of its delay, so later ones overtake it.
	Reorder       float64
	ReorderWindow time.Duration
	// Delay and Jitter: each datagram, and each TCP chunk, waits Delay ±
	// Jitter (uniform). Datagrams may overtake each other through jitter;
	// TCP chunks keep their order.
	Delay, Jitter time.Duration
}

// faultStats counts what a [faultProxy] did.
type faultStats struct {
	Datagrams, Dropped, Duplicated, Reordered, Blackholed int64
	Conns, Cuts, BytesTCP, Rebinds                        int64
}

// String formats the counters as k=v pairs for a summary line.
func (s faultStats) String() string {
	return fmt.Sprintf("datagrams=%d dropped=%d duplicated=%d reordered=%d blackholed=%d rebinds=%d tcp_conns=%d tcp_cuts=%d tcp_bytes=%d",
		s.Datagrams, s.Dropped, s.Duplicated, s.Reordered, s.Blackholed, s.Rebinds, s.Conns, s.Cuts, s.BytesTCP)
}

// faultProxy listens on one 127.0.0.1 port for UDP and TCP and forwards
// both to target, injecting [faults]: per-datagram loss, duplication,
// delay, jitter and reordering on UDP (in both directions); delay and hard
// cuts (RST) at random byte counts on TCP; and blackouts on both.
type faultProxy struct {
	t      testing.TB
	addr   string
	target *net.UDPAddr
	cfg    faults
	udp    *net.UDPConn
	tcp    net.Listener

	mu       sync.Mutex
	rng      *rand.Rand              // +checklocks:mu
	sessions map[string]*net.UDPConn // +checklocks:mu; client address -> upstream socket
	conns    map[*proxyConn]struct{} // +checklocks:mu; live TCP pairs
	dark     time.Time               // +checklocks:mu; blackout until
	closed   bool                    // +checklocks:mu

	datagrams, dropped, duplicated, reordered, blackholed atomic.Int64
	nconns, cuts, bytesTCP, rebinds, countdown            atomic.Int64
	wg                                                    sync.WaitGroup
}

// proxyConn is one proxied TCP connection pair.
type proxyConn struct {
	client, server *net.TCPConn
	once           sync.Once
}

// startFaultProxy starts a proxy to target on a free 127.0.0.1 port; it
// stops at t's cleanup.
func startFaultProxy(t testing.TB, target string, cfg faults, seed uint64) *faultProxy {
	t.Helper()
	ta, err := net.ResolveUDPAddr("udp", target)
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{t: t, target: ta, cfg: cfg, rng: rand.New(rand.NewPCG(seed, 7)),
		sessions: map[string]*net.UDPConn{}, conns: map[*proxyConn]struct{}{}}
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		u, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: l.Addr().(*net.TCPAddr).Port})
		if err != nil {
			l.Close()
			continue
		}
		p.tcp, p.udp, p.addr = l, u, l.Addr().String()
		break
	}
	if p.addr == "" {
		t.Fatal("fault proxy: no free port")
	}
	p.udp.SetReadBuffer(4 << 20)
	p.wg.Add(2)
	go p.serveUDP()
	go p.serveTCP()
	t.Cleanup(p.close)
	return p
}

// stats returns the counters so far.
func (p *faultProxy) stats() faultStats {
	return faultStats{Datagrams: p.datagrams.Load(), Dropped: p.dropped.Load(), Duplicated: p.duplicated.Load(),
		Reordered: p.reordered.Load(), Blackholed: p.blackholed.Load(), Conns: p.nconns.Load(),
		Cuts: p.cuts.Load(), BytesTCP: p.bytesTCP.Load(), Rebinds: p.rebinds.Load()}
}

func (p *faultProxy) close() {
	p.mu.Lock()
	p.closed = true
	for _, s := range p.sessions {
		s.Close()
	}
	for c := range p.conns {
		c.client.Close()
		c.server.Close()
	}
	p.mu.Unlock()
	p.udp.Close()
	p.tcp.Close()
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		p.t.Errorf("fault proxy goroutines did not stop")
	}
}

// blackout drops every datagram and stalls every TCP byte for d: a cut of
// the path that heals.
func (p *faultProxy) blackout(d time.Duration) {
	p.mu.Lock()
	p.dark = time.Now().Add(d)
	p.mu.Unlock()
}

func (p *faultProxy) isDark() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return time.Now().Before(p.dark)
}

// rebind forgets every UDP session, so the client's next datagrams leave
// the proxy from a new port (a NAT rebinding); answers to the old port are
// lost.
func (p *faultProxy) rebind() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, s := range p.sessions {
		s.Close()
		delete(p.sessions, k)
	}
	p.rebinds.Add(1)
}

// cut arms a hard cut: whichever TCP connection carries the n-th byte
// from now (n random in 1..maxBytes, both directions of every connection
// counted) is reset there.
func (p *faultProxy) cut(maxBytes int64) {
	p.mu.Lock()
	n := 1 + p.rng.Int64N(maxBytes)
	p.mu.Unlock()
	p.countdown.Store(n)
}

// cutPending reports whether an armed cut has not fired yet.
func (p *faultProxy) cutPending() bool { return p.countdown.Load() > 0 }

// cutWithin returns how many of the next n bytes pass before the armed cut
// fires in them, or -1 if no cut fires within them.
func (p *faultProxy) cutWithin(n int64) int64 {
	for {
		cd := p.countdown.Load()
		if cd <= 0 {
			return -1
		}
		if cd > n {
			if p.countdown.CompareAndSwap(cd, cd-n) {
				return -1
			}
			continue
		}
		if p.countdown.CompareAndSwap(cd, 0) {
			return cd - 1
		}
	}
}

// delay draws one Delay ± Jitter, plus the reorder hold when drawn.
func (p *faultProxy) delay(reorder bool) (time.Duration, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	d := p.cfg.Delay
	if p.cfg.Jitter > 0 {
		d += time.Duration(p.rng.Int64N(int64(2*p.cfg.Jitter)+1)) - p.cfg.Jitter
	}
	held := false
	if reorder && p.cfg.ReorderWindow > 0 && p.rng.Float64() < p.cfg.Reorder {
		d += time.Duration(1 + p.rng.Int64N(int64(p.cfg.ReorderWindow)))
		held = true
	}
	return max(d, 0), held
}

func (p *faultProxy) chance(prob float64) bool {
	if prob <= 0 {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rng.Float64() < prob
}

// forward passes one datagram through the faults to send.
func (p *faultProxy) forward(b []byte, send func([]byte)) {
	p.datagrams.Add(1)
	if p.isDark() {
		p.blackholed.Add(1)
		return
	}
	if p.chance(p.cfg.Drop) {
		p.dropped.Add(1)
		return
	}
	copies := 1
	if p.chance(p.cfg.Dup) {
		copies = 2
		p.duplicated.Add(1)
	}
	buf := append([]byte(nil), b...)
	for range copies {
		d, held := p.delay(true)
		if held {
			p.reordered.Add(1)
		}
		if d == 0 {
			send(buf)
			continue
		}
		time.AfterFunc(d, func() { send(buf) })
	}
}

func (p *faultProxy) serveUDP() {
	defer p.wg.Done()
	buf := make([]byte, 64<<10)
	for {
		n, from, err := p.udp.ReadFromUDP(buf)
		if err != nil {
			return
		}
		up := p.session(from)
		if up == nil {
			continue
		}
		p.forward(buf[:n], func(b []byte) { up.Write(b) })
	}
}

// session returns the upstream socket of client address from, creating
// it and its reverse pump the first time.
func (p *faultProxy) session(from *net.UDPAddr) *net.UDPConn {
	key := from.String()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	if up, ok := p.sessions[key]; ok {
		return up
	}
	up, err := net.DialUDP("udp", nil, p.target)
	if err != nil {
		return nil
	}
	up.SetReadBuffer(4 << 20)
	p.sessions[key] = up
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		b := make([]byte, 64<<10)
		for {
			n, err := up.Read(b)
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				continue // ICMP unreachable while the relay restarts
			}
			p.forward(b[:n], func(d []byte) { p.udp.WriteToUDP(d, from) })
		}
	}()
	return up
}

func (p *faultProxy) serveTCP() {
	defer p.wg.Done()
	for {
		c, err := p.tcp.Accept()
		if err != nil {
			return
		}
		s, err := net.DialTimeout("tcp", p.target.String(), 5*time.Second)
		if err != nil {
			c.Close()
			continue
		}
		pc := &proxyConn{client: c.(*net.TCPConn), server: s.(*net.TCPConn)}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			c.Close()
			s.Close()
			return
		}
		p.conns[pc] = struct{}{}
		p.mu.Unlock()
		p.nconns.Add(1)
		p.wg.Add(2)
		go p.pump(pc, pc.server, pc.client)
		go p.pump(pc, pc.client, pc.server)
	}
}

// pump copies src to dst in chunks, each delayed, until either side closes
// or the connection's cut point is reached.
func (p *faultProxy) pump(pc *proxyConn, dst, src *net.TCPConn) {
	defer p.wg.Done()
	defer p.drop(pc, false)
	buf := make([]byte, 16<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			for p.isDark() {
				time.Sleep(10 * time.Millisecond)
			}
			if d, _ := p.delay(false); d > 0 {
				time.Sleep(d)
			}
			chunk := buf[:n]
			if keep := p.cutWithin(int64(n)); keep >= 0 {
				dst.Write(chunk[:keep])
				p.drop(pc, true)
				return
			}
			p.bytesTCP.Add(int64(n))
			if _, werr := dst.Write(chunk); werr != nil {
				return
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				dst.CloseWrite()
				// The other direction ends the pair.
				return
			}
			return
		}
	}
}

// drop closes a pair; cut resets both sides (SO_LINGER 0) and counts it.
func (p *faultProxy) drop(pc *proxyConn, cut bool) {
	if cut {
		pc.once.Do(func() {
			p.cuts.Add(1)
			pc.client.SetLinger(0)
			pc.server.SetLinger(0)
			pc.client.Close()
			pc.server.Close()
			p.mu.Lock()
			delete(p.conns, pc)
			p.mu.Unlock()
		})
		return
	}
	// An ordinary end: close only once both pumps are done. The first
	// pump to finish half-closed dst; closing here is fine for TLS.
	pc.once.Do(func() {
		pc.client.Close()
		pc.server.Close()
		p.mu.Lock()
		delete(p.conns, pc)
		p.mu.Unlock()
	})
}
