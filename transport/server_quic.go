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
	peer := peerFromState(qc.ConnectionState().TLS, qc.RemoteAddr(), ProtocolQUIC, &s.cfg)
	key := s.supersede(peer, qc)
	defer func() {
		s.mu.Lock()
		delete(s.quicConns, qc)
		if key != "" && s.quicByAgent[key] == qc {
			delete(s.quicByAgent, key)
		}
		s.mu.Unlock()
	}()
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

// connCodeSuperseded closes the QUIC connection an agent replaced.
const connCodeSuperseded quic.ApplicationErrorCode = 0x10

// supersede records qc as the QUIC connection of its agent's certificate
// and closes the one it replaces. An agent keeps one QUIC connection to a
// relay, so an older one made with the same certificate is dead: the
// agent restarted (killed, or its machine lost power) and its previous
// connection would otherwise hold its uploads, and the staging files they
// write, until the idle timeout; the new connection's offers for the same
// files would wait as long. A connection made with another certificate of
// the agent is left alone: after a renewal the agent lets the uploads on
// its old connection finish while new ones go on a new connection.
func (s *Server) supersede(peer Peer, qc *quic.Conn) (key string) {
	if peer.AgentID == "" || peer.Certificate == nil {
		return "" // enrolment: no certificate yet
	}
	key = peer.AgentID + "/" + peer.Certificate.SerialNumber.String()
	s.mu.Lock()
	old := s.quicByAgent[key]
	s.quicByAgent[key] = qc
	s.mu.Unlock()
	if old != nil {
		s.log.Info().Str("agent_id", peer.AgentID).Msg("agent connected again: closing its previous QUIC connection")
		old.CloseWithError(connCodeSuperseded, "superseded by a newer connection of the same agent")
	}
	return key
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
