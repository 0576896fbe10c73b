package transport

import (
	"bufio"
	"context"
	"crypto/tls"
	"net"
	"time"
)

// acceptTCP accepts TLS-over-TCP connections until acceptCtx is done.
func (s *Server) acceptTCP(acceptCtx, workCtx context.Context) {
	for {
		nc, err := s.tcp.Accept()
		if err != nil {
			if acceptCtx.Err() != nil {
				return
			}
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				continue
			}
			return
		}
		s.loops.Go(func() { s.serveTCPConn(workCtx, nc) })
	}
}

// deadlineConn pushes the read and write deadlines forward on every call, so
// a connection dies after timeout without progress.
type deadlineConn struct {
	net.Conn
	timeout time.Duration
}

func (c deadlineConn) Read(p []byte) (int, error) {
	c.Conn.SetReadDeadline(time.Now().Add(c.timeout))
	return c.Conn.Read(p)
}

func (c deadlineConn) Write(p []byte) (int, error) {
	c.Conn.SetWriteDeadline(time.Now().Add(c.timeout))
	return c.Conn.Write(p)
}

// serveTCPConn runs the handshake, sends the server Hello and then serves
// exchanges one after another until the connection ends.
func (s *Server) serveTCPConn(workCtx context.Context, nc net.Conn) {
	if !s.trackTCP(nc, false) {
		nc.Close()
		return
	}
	defer func() {
		s.mu.Lock()
		delete(s.tcpConns, nc)
		s.mu.Unlock()
		nc.Close()
	}()
	tc := tls.Server(deadlineConn{Conn: nc, timeout: s.cfg.IdleTimeout}, s.tcpConf)
	hsCtx, cancel := context.WithTimeout(workCtx, s.cfg.HandshakeTimeout)
	err := tc.HandshakeContext(hsCtx)
	cancel()
	if err != nil {
		s.log.Debug().Str("proto", string(ProtocolTCP)).Msg("handshake refused")
		return
	}
	peer := peerFromState(tc.ConnectionState(), nc.RemoteAddr(), ProtocolTCP, &s.cfg)
	s.log.Debug().Str("agent_id", peer.AgentID).Str("proto", string(ProtocolTCP)).Msg("connection accepted")
	br := bufio.NewReaderSize(tc, 64<<10)
	bw := bufio.NewWriterSize(tc, 16<<10)
	if err := WriteFrame(bw, FrameHello, marshalHello()); err != nil || bw.Flush() != nil {
		return
	}
	for {
		if !s.trackTCP(nc, true) {
			return
		}
		if _, err := br.Peek(1); err != nil {
			return
		}
		if !s.trackTCP(nc, false) || !s.beginExchange() {
			return
		}
		res := s.tcpExchange(workCtx, peer, br, bw)
		s.streams.Done()
		if !res {
			return
		}
	}
}

// tcpExchange runs one exchange and drains what the agent still sends after
// an early answer; it reports whether the connection can carry another one.
func (s *Server) tcpExchange(workCtx context.Context, peer Peer, br *bufio.Reader, bw *bufio.Writer) bool {
	ctx, cancel := context.WithCancel(workCtx)
	defer cancel()
	res := s.exchange(ctx, peer, br, bw)
	switch res.state {
	case exchangeClean:
		return true
	case exchangeDrain:
		return res.data.drain() == nil
	}
	return false
}

// trackTCP records nc as idle or busy; it returns false once the server is
// closing.
func (s *Server) trackTCP(nc net.Conn, idle bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.tcpConns[nc] = idle
	return true
}
