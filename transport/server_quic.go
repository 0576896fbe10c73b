package transport

import (
	"bufio"
	"context"

	"github.com/quic-go/quic-go"
)

// QUIC stream error codes used with CancelRead/CancelWrite.
const (
	streamCodeRejected quic.StreamErrorCode = 1 // the relay answered early and stopped reading
	streamCodeClosing  quic.StreamErrorCode = 2 // the relay is shutting down
	streamCodeAborted  quic.StreamErrorCode = 3 // the agent gave up (context done)
)

// acceptQUIC accepts QUIC connections until acceptCtx is done.
func (s *Server) acceptQUIC(acceptCtx, workCtx context.Context) {
	for {
		qc, err := s.qln.Accept(acceptCtx)
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closing {
			s.mu.Unlock()
			go qc.CloseWithError(0, "server closing")
			continue
		}
		s.quicConns[qc] = struct{}{}
		s.mu.Unlock()
		s.loops.Go(func() { s.serveQUICConn(acceptCtx, workCtx, qc) })
	}
}

// serveQUICConn runs one exchange per incoming stream.
func (s *Server) serveQUICConn(acceptCtx, workCtx context.Context, qc *quic.Conn) {
	defer func() {
		s.mu.Lock()
		delete(s.quicConns, qc)
		s.mu.Unlock()
	}()
	peer := peerFromState(qc.ConnectionState().TLS, qc.RemoteAddr(), ProtocolQUIC, &s.cfg)
	// The server Hello on a unidirectional stream tells the client that its
	// certificate was accepted (its own handshake completes before that).
	if us, err := qc.OpenUniStream(); err == nil {
		WriteFrame(us, FrameHello, marshalHello())
		us.Close()
	}
	s.log.Debug().Str("agent_id", peer.AgentID).Str("proto", string(ProtocolQUIC)).Msg("connection accepted")
	for {
		st, err := qc.AcceptStream(acceptCtx)
		if err != nil {
			if acceptCtx.Err() != nil {
				// Closing: Close closes the connection once exchanges end.
				<-qc.Context().Done()
			}
			return
		}
		if !s.beginExchange() {
			st.CancelRead(streamCodeClosing)
			st.CancelWrite(streamCodeClosing)
			continue
		}
		go func() {
			defer s.streams.Done()
			ctx, cancel := context.WithCancel(workCtx)
			defer cancel()
			stop := context.AfterFunc(qc.Context(), cancel)
			defer stop()
			s.serveQUICStream(ctx, peer, st)
		}()
	}
}

// serveQUICStream runs one exchange and closes the stream.
func (s *Server) serveQUICStream(ctx context.Context, peer Peer, st *quic.Stream) {
	br := bufio.NewReaderSize(st, 64<<10)
	bw := bufio.NewWriterSize(st, 16<<10)
	res := s.exchange(ctx, peer, br, bw)
	st.Close()
	// The answer is written; stop reading. After an early answer this stops
	// the agent's remaining Data frames instead of draining them.
	code := quic.StreamErrorCode(0)
	if res.state != exchangeClean {
		code = streamCodeRejected
	}
	st.CancelRead(code)
}
