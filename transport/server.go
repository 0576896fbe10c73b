package transport

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/rs/zerolog"
)

// Server defaults.
const (
	defaultMaxIncomingStreams = 100
	defaultIdleTimeout        = 60 * time.Second
	defaultHandshakeTimeout   = 10 * time.Second
)

// ServerConfig configures Listen.
type ServerConfig struct {
	// Addr is the host:port to serve on, UDP (QUIC) and TCP (TLS) on the same
	// port number. Port 0 picks a port free for both; see Server.Addr.
	Addr string `yaml:"addr"`
	// Certificate is the relay's server certificate chain (leaf then CA, as
	// CA.IssueServerCert returns) and key. Required.
	Certificate tls.Certificate `yaml:"-"`
	// ClientCAs verifies agent certificates (CA.Pool). Required.
	ClientCAs *x509.CertPool `yaml:"-"`
	// Authorize, when set, is called during every handshake that presents a
	// verified agent certificate; an error refuses the connection at the
	// handshake (revoked or unknown agents). Nil accepts every agent the CA
	// certified.
	Authorize func(ctx context.Context, agentID string, cert *x509.Certificate) error `yaml:"-"`
	// Handler serves enrolments and uploads, and renewals when it
	// implements [Renewer]. Required.
	Handler Handler `yaml:"-"`
	// OnRefused, when set, is called for every agent certificate refused
	// at the handshake (expired, not yet valid, foreign CA, revoked,
	// unknown...), on QUIC and TCP alike, with the handshake's context.
	// It must return quickly. Default nil: refusals are only logged at
	// debug level.
	OnRefused func(ctx context.Context, r Refusal) `yaml:"-"`
	// OnClock, when set, is called for each clock exchange of an
	// authenticated agent with the agent's claimed time and the relay's
	// own (see [Conn.Clock]). Default nil.
	OnClock func(ctx context.Context, peer Peer, agentTime, relayTime time.Time) `yaml:"-"`
	// Time is the relay's clock, for certificate checks and clock
	// exchanges. Default time.Now.
	Time func() time.Time `yaml:"-"`
	// MaxIncomingStreams caps concurrent streams per QUIC connection.
	// Default 100.
	MaxIncomingStreams int64 `yaml:"max_incoming_streams"`
	// IdleTimeout closes connections without traffic for this long (QUIC
	// idle timeout; TCP read and write deadline). Default 60 s.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// HandshakeTimeout bounds the TLS handshake on TCP and QUIC. Default 10 s.
	HandshakeTimeout time.Duration `yaml:"handshake_timeout"`
	// DisableQUIC serves TCP only. Default false.
	DisableQUIC bool `yaml:"disable_quic"`
	// DisableTCP serves QUIC only. Default false.
	DisableTCP bool `yaml:"disable_tcp"`
	// DisableUDPGRO reads the QUIC socket one packet at a time, as quic-go
	// does itself, instead of taking the packets of a flow the kernel
	// coalesced (UDP_GRO, Linux) in one read. Default false: coalesced
	// reads where the kernel offers them.
	DisableUDPGRO bool `yaml:"disable_udp_gro"`
	// WireGuard, when set, also serves QUIC and TCP inside a userspace
	// WireGuard tunnel, on the tunnel address at the port of Addr
	// (DefaultTunnelPort when that is 0). Default nil: no tunnel.
	WireGuard *WireGuardConfig `yaml:"wireguard"`
	// WireGuardOnly serves inside the tunnel only: nothing listens on Addr
	// (only the WireGuard UDP socket is on the host network). Requires
	// WireGuard. Default false.
	WireGuardOnly bool `yaml:"wireguard_only"`
	// EnrolOnly serves enrolments (and the clock exchange) only: an Offer
	// or a RenewRequest is answered with Error{unavailable}, which agents
	// retry rather than quarantine. A
	// relay that serves uploads inside its WireGuard tunnel only keeps
	// enrolment reachable on the host network this way. Default false.
	EnrolOnly bool `yaml:"enrol_only"`
	// Logger receives connection-level events (no PHI). Zero value: silent.
	Logger zerolog.Logger `yaml:"-"`
}

// validate checks cfg and fills defaults.
func (cfg *ServerConfig) validate() error {
	var errs []error
	if cfg.Handler == nil {
		errs = append(errs, errors.New("transport: server config: handler is required"))
	}
	if len(cfg.Certificate.Certificate) == 0 {
		errs = append(errs, errors.New("transport: server config: certificate is required"))
	}
	if cfg.ClientCAs == nil {
		errs = append(errs, errors.New("transport: server config: client cas are required"))
	}
	if cfg.WireGuardOnly && cfg.WireGuard == nil {
		errs = append(errs, errors.New("transport: server config: wireguard_only without wireguard"))
	}
	if cfg.EnrolOnly && cfg.WireGuard != nil {
		errs = append(errs, errors.New("transport: server config: enrol_only with wireguard"))
	}
	if cfg.DisableQUIC && cfg.DisableTCP {
		errs = append(errs, errors.New("transport: server config: both quic and tcp disabled"))
	}
	if cfg.MaxIncomingStreams <= 0 {
		cfg.MaxIncomingStreams = defaultMaxIncomingStreams
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = defaultIdleTimeout
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = defaultHandshakeTimeout
	}
	return errors.Join(errs...)
}

// Server serves the upload protocol on QUIC and TCP. Create it with Listen.
type Server struct {
	cfg     ServerConfig
	log     zerolog.Logger
	tlsConf *tls.Config // QUIC
	tcpConf *tls.Config // TLS over TCP

	udp  net.PacketConn
	tr   *quic.Transport
	qln  *quic.Listener
	tcp  net.Listener
	addr net.Addr
	wg   *wireGuardServer // nil without WireGuard

	stopAccept context.CancelFunc // stops accepting connections and streams
	stopWork   context.CancelFunc // cancels in-flight handlers

	loops   sync.WaitGroup // accept loops and per-connection goroutines
	streams sync.WaitGroup // in-flight exchanges

	mu sync.Mutex
	// +checklocks:mu
	closing bool
	// +checklocks:mu
	quicConns map[*quic.Conn]struct{}
	// quicByAgent is the newest QUIC connection of each agent
	// certificate (see supersede).
	quicByAgent map[string]*quic.Conn
	// +checklocks:mu
	tcpConns map[net.Conn]bool // value: idle between exchanges
}

// Listen starts serving on cfg.Addr. Cancelling ctx stops accepting and
// cancels in-flight handlers; Close must still be called to release the
// sockets. Use Close alone for a graceful stop.
func Listen(ctx context.Context, cfg ServerConfig) (*Server, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s := &Server{
		cfg:         cfg,
		log:         cfg.Logger,
		tlsConf:     serverTLSConfig(&cfg, ProtocolQUIC),
		tcpConf:     serverTLSConfig(&cfg, ProtocolTCP),
		quicConns:   map[*quic.Conn]struct{}{},
		quicByAgent: map[string]*quic.Conn{},
		tcpConns:    map[net.Conn]bool{},
	}
	var err error
	s.udp, s.tcp, err = s.listenSockets(ctx)
	if err != nil {
		return nil, err
	}
	if s.tcp != nil {
		s.addr = s.tcp.Addr()
	} else {
		s.addr = s.udp.LocalAddr()
	}
	if s.udp != nil {
		conn := s.udp
		if !cfg.DisableUDPGRO {
			conn = wrapGRO(s.udp)
		}
		s.tr = &quic.Transport{Conn: conn}
		s.qln, err = s.tr.Listen(s.tlsConf, &quic.Config{
			HandshakeIdleTimeout:  cfg.HandshakeTimeout,
			MaxIdleTimeout:        cfg.IdleTimeout,
			MaxIncomingStreams:    cfg.MaxIncomingStreams,
			MaxIncomingUniStreams: -1,
			Allow0RTT:             false,
			InitialPacketSize:     s.quicPacketSize(),
		})
		if err != nil {
			s.udp.Close()
			if s.tcp != nil {
				s.tcp.Close()
			}
			s.closeWireGuard(ctx)
			return nil, fmt.Errorf("transport: quic listen: %w", err)
		}
	}
	workCtx, stopWork := context.WithCancel(ctx)
	acceptCtx, stopAccept := context.WithCancel(workCtx)
	s.stopWork, s.stopAccept = stopWork, stopAccept
	if s.qln != nil {
		s.loops.Go(func() { s.acceptQUIC(acceptCtx, workCtx) })
	}
	if s.tcp != nil {
		s.loops.Go(func() { s.acceptTCP(acceptCtx, workCtx) })
	}
	s.log.Info().Str("addr", s.addr.String()).Bool("quic", s.qln != nil).Bool("tcp", s.tcp != nil).Msg("transport listening")
	return s, nil
}

// Addr returns the address served (same port for UDP and TCP).
func (s *Server) Addr() net.Addr { return s.addr }

// Close stops accepting connections and streams, waits for in-flight
// exchanges until ctx is done, then cancels what is left and closes every
// connection. It returns ctx.Err() when it had to cut exchanges short.
func (s *Server) Close(ctx context.Context) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return nil
	}
	s.closing = true
	for c, idle := range s.tcpConns {
		if idle {
			c.Close()
		}
	}
	s.mu.Unlock()

	s.stopAccept()
	if s.qln != nil {
		s.qln.Close()
	}
	if s.tcp != nil {
		s.tcp.Close()
	}

	drained := make(chan struct{})
	go func() { s.streams.Wait(); close(drained) }()
	var err error
	select {
	case <-drained:
	case <-ctx.Done():
		err = ctx.Err()
		s.stopWork()
	}

	s.mu.Lock()
	quicConns := make([]*quic.Conn, 0, len(s.quicConns))
	for c := range s.quicConns {
		quicConns = append(quicConns, c)
	}
	for c := range s.tcpConns {
		c.Close()
	}
	s.mu.Unlock()
	// Close QUIC connections before the socket goes: CloseWithError sends
	// CONNECTION_CLOSE and returns once it is out, so agents learn at once
	// that this relay is gone (instead of waiting for an idle timeout).
	for _, c := range quicConns {
		c.CloseWithError(0, "server closing")
	}
	<-drained
	s.stopWork()
	if s.tr != nil {
		s.tr.Close()
	}
	if s.udp != nil {
		s.udp.Close()
	}
	s.loops.Wait()
	if werr := s.closeWireGuard(ctx); err == nil {
		err = werr
	}
	s.log.Info().Msg("transport closed")
	return err
}

// beginExchange registers an exchange unless the server is closing.
func (s *Server) beginExchange() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.streams.Add(1)
	return true
}

// bindPair binds UDP and TCP on the same port number; with port 0 it retries
// until it finds a port free for both.
func bindPair(addr string, wantUDP, wantTCP bool) (net.PacketConn, net.Listener, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, fmt.Errorf("transport: listen address: %w", err)
	}
	if !wantUDP || !wantTCP {
		if wantUDP {
			u, err := net.ListenPacket("udp", addr)
			if err != nil {
				return nil, nil, fmt.Errorf("transport: listen udp: %w", err)
			}
			return u, nil, nil
		}
		t, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, nil, fmt.Errorf("transport: listen tcp: %w", err)
		}
		return nil, t, nil
	}
	attempts := 1
	if port == "0" || port == "" {
		attempts = 32
	}
	var lastErr error
	for range attempts {
		t, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, nil, fmt.Errorf("transport: listen tcp: %w", err)
		}
		p := t.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", net.JoinHostPort(host, fmt.Sprint(p)))
		if err == nil {
			return u, t, nil
		}
		t.Close()
		lastErr = err
	}
	return nil, nil, fmt.Errorf("transport: listen udp: %w", lastErr)
}
