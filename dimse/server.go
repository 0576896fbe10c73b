package dimse

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// ErrServerClosed is returned by [Server.Serve] after [Server.Close].
var ErrServerClosed = errors.New("dimse: server closed")

// Server is a DICOM storage and verification SCP. The zero value is not
// usable without a Handler; every other field has a default.
type Server struct {
	// AETitle is our AE title. When set, associations calling another AE
	// title are rejected (called-AE-title not recognized). Default: accept
	// any called AE title.
	AETitle string
	// Addr is the TCP address to listen on. Default ":11112".
	Addr string
	// AllowedCallingAEs lists the calling AE titles accepted; empty means
	// any. Others are rejected (calling-AE-title not recognized).
	AllowedCallingAEs []string
	// MaxPDU is the maximum P-DATA-TF length we announce and enforce.
	// Default DefaultMaxPDU; clamped to [MinMaxPDU, MaxMaxPDU].
	MaxPDU uint32
	// MaxAssociations bounds concurrent associations; more are rejected
	// (transient, local limit exceeded). Default 32.
	MaxAssociations int
	// IdleTimeout aborts an association silent for that long. Default
	// DefaultIdleTimeout.
	IdleTimeout time.Duration
	// Logger receives one line per association event; the zero value is
	// silent. No PHI is logged.
	Logger zerolog.Logger
	// Handler receives the C-STORE instances. Required.
	Handler Handler

	mu     sync.Mutex
	ln     net.Listener          // +checklocks:mu
	conns  map[net.Conn]struct{} // +checklocks:mu
	cancel context.CancelFunc    // +checklocks:mu
	closed bool                  // +checklocks:mu
	wg     sync.WaitGroup
}

// maxPDU returns the configured P-DATA-TF limit with its default.
func (s *Server) maxPDU() uint32 {
	switch {
	case s.MaxPDU == 0:
		return DefaultMaxPDU
	case s.MaxPDU < MinMaxPDU:
		return MinMaxPDU
	case s.MaxPDU > MaxMaxPDU:
		return MaxMaxPDU
	}
	return s.MaxPDU
}

// idle returns the idle timeout with its default.
func (s *Server) idle() time.Duration {
	if s.IdleTimeout > 0 {
		return s.IdleTimeout
	}
	return DefaultIdleTimeout
}

// Serve listens on Addr and serves associations until ctx is done or
// Close is called; it then returns ErrServerClosed after the live
// associations have ended.
func (s *Server) Serve(ctx context.Context) error {
	addr := s.Addr
	if addr == "" {
		addr = ":11112"
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("dimse: listen: %w", err)
	}
	return s.ServeListener(ctx, ln)
}

// ServeListener is Serve on an existing listener, which it closes.
func (s *Server) ServeListener(ctx context.Context, ln net.Listener) error {
	if s.Handler == nil {
		_ = ln.Close()
		return errors.New("dimse: server without handler")
	}
	ctx, cancel := context.WithCancel(ctx)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		cancel()
		_ = ln.Close()
		return ErrServerClosed
	}
	s.ln, s.cancel = ln, cancel
	if s.conns == nil {
		s.conns = map[net.Conn]struct{}{}
	}
	s.mu.Unlock()
	stop := context.AfterFunc(ctx, func() { _ = s.Close() })
	defer stop()
	s.Logger.Info().Str("addr", ln.Addr().String()).Str("ae_title", s.AETitle).Msg("dimse: listening")
	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.isClosed() {
				s.wg.Wait()
				return ErrServerClosed
			}
			// Accept errors (EMFILE...) are retried after a growing pause.
			s.Logger.Warn().Err(err).Msg("dimse: accept")
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			time.Sleep(delay)
			continue
		}
		delay = 0
		if !s.track(nc) {
			_ = nc.Close()
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer s.untrack(nc)
			s.serveConn(ctx, nc)
		}()
	}
}

// ListenAddr returns the address the server listens on, or nil before Serve.
func (s *Server) ListenAddr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Close stops listening and aborts the live associations: their handlers
// see a cancelled context and a stream that fails with ErrAborted. Serve
// returns once they have ended.
func (s *Server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if s.cancel != nil {
		s.cancel()
	}
	var err error
	if s.ln != nil {
		err = s.ln.Close()
	}
	for nc := range s.conns {
		_ = nc.SetDeadline(time.Now())
	}
	return err
}

// isClosed reports whether Close was called.
func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// track records a live connection; false once closed.
func (s *Server) track(nc net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[nc] = struct{}{}
	return true
}

// untrack forgets a connection.
func (s *Server) untrack(nc net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, nc)
}

// liveAssociations counts the tracked connections.
func (s *Server) liveAssociations() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// callingAllowed reports whether ae may associate.
func (s *Server) callingAllowed(ae string) bool {
	return len(s.AllowedCallingAEs) == 0 || slices.Contains(s.AllowedCallingAEs, ae)
}
