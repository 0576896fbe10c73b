package transport

import (
	"context"
	"crypto/ed25519"
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

// Mode chooses the transport Dial uses.
type Mode string

// Modes.
const (
	// ModeAuto tries QUIC and falls back to TCP. The zero value means auto.
	ModeAuto Mode = "auto"
	// ModeQUIC uses QUIC only.
	ModeQUIC Mode = "quic"
	// ModeTCP uses TLS over TCP only.
	ModeTCP Mode = "tcp"
)

// Client defaults.
const (
	defaultQUICTimeout = 3 * time.Second
	defaultMaxIdleTCP  = 8
	keepAlivePeriod    = 15 * time.Second
)

// ClientConfig configures Dial.
type ClientConfig struct {
	// Addr is the relay's host:port (UDP and TCP).
	Addr string `yaml:"addr"`
	// ServerName is the name checked in the relay certificate. Default: the
	// host of Addr.
	ServerName string `yaml:"server_name"`
	// Certificate is the agent's certificate chain and key. Zero value: no
	// client certificate (the connection may only enrol).
	Certificate tls.Certificate `yaml:"-"`
	// GetCertificate, when set, replaces Certificate: it is asked at each
	// handshake, so a renewed certificate is used by the next connection.
	// Default nil.
	GetCertificate func() (*tls.Certificate, error) `yaml:"-"`
	// Time is this side's clock: the relay's certificate must be valid at
	// its time, and clock exchanges send it. Default time.Now.
	Time func() time.Time `yaml:"-"`
	// RootCAs holds the pinned relay CA. Required unless PinnedCAFingerprint
	// is set.
	RootCAs *x509.CertPool `yaml:"-"`
	// PinnedCAFingerprint, when set, replaces RootCAs: the relay's chain must
	// contain a CA with this SHA-256 fingerprint (hex) that verifies the leaf.
	// Used by Enrol.
	PinnedCAFingerprint string `yaml:"pinned_ca_fingerprint"`
	// ReceiptKey, when set, is the relay's Ed25519 key: Upload verifies every
	// receipt with it.
	ReceiptKey ed25519.PublicKey `yaml:"-"`
	// Mode is auto (default), quic or tcp.
	Mode Mode `yaml:"mode"`
	// QUICTimeout bounds the QUIC handshake in auto mode before falling back
	// to TCP. Default 3 s.
	QUICTimeout time.Duration `yaml:"quic_timeout"`
	// MaxIdleTCP is how many idle TCP connections are kept for reuse.
	// Default 8.
	MaxIdleTCP int `yaml:"max_idle_tcp"`
	// WireGuard, when set, brings up a userspace WireGuard tunnel to the
	// relay and runs QUIC (or the TCP fallback) inside it; Addr is then the
	// relay's ip:port inside the tunnel. The tunnel lives as long as the
	// Conn. Default nil: no tunnel.
	WireGuard *WireGuardConfig `yaml:"wireguard"`
	// Logger receives connection-level events. Zero value: silent.
	Logger zerolog.Logger `yaml:"-"`
}

// Conn is a client connection to a relay: one QUIC connection carrying a
// stream per upload, or a pool of TLS-over-TCP connections, one per
// concurrent upload. It is safe for concurrent use.
type Conn struct {
	cfg     ClientConfig
	log     zerolog.Logger
	tlsConf *tls.Config
	proto   Protocol
	qc      *quic.Conn
	wg      *clientTunnel // nil without WireGuard

	mu sync.Mutex
	// +checklocks:mu
	idle []*tcpConn
	// +checklocks:mu
	closed bool
}

// Dial connects to the relay. In ModeAuto it tries QUIC for at most
// QUICTimeout and then TCP; Protocol reports which one won. Errors are
// retryable (network) except two verdicts, which are not worth a TCP
// fallback and need an operator: a *ClockSkewError (the relay's
// certificate is not valid at this machine's time) and a
// *CertificateRefusedError (the relay refused the agent certificate; TLS
// carries no reason, so it holds this side's diagnosis: expired, not yet
// valid, or refused).
func Dial(ctx context.Context, cfg ClientConfig) (*Conn, error) {
	skew := &skewNote{}
	tlsConf, err := clientTLSConfig(&cfg, skew)
	if err != nil {
		return nil, err
	}
	if cfg.QUICTimeout <= 0 {
		cfg.QUICTimeout = defaultQUICTimeout
	}
	if cfg.MaxIdleTCP <= 0 {
		cfg.MaxIdleTCP = defaultMaxIdleTCP
	}
	c := &Conn{cfg: cfg, log: cfg.Logger, tlsConf: tlsConf}
	if err := c.openTunnel(); err != nil {
		return nil, err
	}
	connected := false
	defer func() {
		if !connected {
			c.closeTunnel()
		}
	}()
	var quicErr error
	switch cfg.Mode {
	case ModeAuto, "", ModeQUIC:
		qctx := ctx
		if cfg.Mode != ModeQUIC {
			var cancel context.CancelFunc
			qctx, cancel = context.WithTimeout(ctx, cfg.QUICTimeout)
			defer cancel()
		}
		c.qc, quicErr = c.dialQUIC(qctx, tlsConf, &quic.Config{
			HandshakeIdleTimeout:  cfg.QUICTimeout,
			KeepAlivePeriod:       keepAlivePeriod,
			MaxIncomingStreams:    -1,
			MaxIncomingUniStreams: 1,
		})
		if quicErr == nil {
			quicErr = awaitServerHello(qctx, c.qc)
		}
		if quicErr == nil {
			c.proto = ProtocolQUIC
			c.log.Debug().Str("proto", string(ProtocolQUIC)).Msg("connected to relay")
			connected = true
			return c, nil
		}
		if verdict := cfg.handshakeVerdict(quicErr, skew); verdict != nil {
			// Not a network problem: TCP would meet the same verdict.
			return nil, verdict
		}
		quicErr = fmt.Errorf("transport: dial quic: %w", quicErr)
		if cfg.Mode == ModeQUIC || ctx.Err() != nil {
			return nil, quicErr
		}
		c.log.Info().Err(quicErr).Msg("quic unavailable, falling back to tcp")
	case ModeTCP:
	default:
		return nil, fmt.Errorf("transport: unknown mode %q", cfg.Mode)
	}
	c.proto = ProtocolTCP
	tc, err := c.dialTCP(ctx)
	if err != nil {
		if verdict := cfg.handshakeVerdict(err, skew); verdict != nil {
			return nil, verdict
		}
		return nil, errors.Join(quicErr, err)
	}
	c.putTCP(tc)
	c.log.Debug().Str("proto", string(ProtocolTCP)).Msg("connected to relay")
	connected = true
	return c, nil
}

// handshakeVerdict returns the *ClockSkewError or *CertificateRefusedError
// behind a failed dial, or nil when err is something else (network).
func (cfg *ClientConfig) handshakeVerdict(err error, skew *skewNote) error {
	if ce := skew.get(); ce != nil {
		return ce
	}
	var ce *ClockSkewError
	if errors.As(err, &ce) {
		return ce
	}
	if refusedCertificate(err) {
		return cfg.certificateRefusal(err)
	}
	return nil
}

// awaitServerHello reads the relay's Hello from its unidirectional stream:
// a TLS 1.3 client finishes its handshake before the relay has checked the
// client certificate, so only the Hello proves the relay accepted us.
func awaitServerHello(ctx context.Context, qc *quic.Conn) error {
	us, err := qc.AcceptUniStream(ctx)
	if err == nil {
		stop := context.AfterFunc(ctx, func() { us.CancelRead(streamCodeAborted) })
		defer stop()
		var f Frame
		f, err = ReadFrame(us, 64)
		if err == nil && f.Type != FrameHello {
			err = errors.New("transport: unexpected first frame")
		}
		if err == nil {
			if v, perr := parseHello(f.Payload); perr != nil || v != ProtocolVersion {
				err = errors.New("transport: relay speaks another protocol version")
			}
		}
	}
	if err != nil {
		qc.CloseWithError(0, "")
		return fmt.Errorf("relay refused the connection: %w", err)
	}
	return nil
}

// Protocol reports whether the connection runs on QUIC or TCP.
func (c *Conn) Protocol() Protocol { return c.proto }

// Close closes the connection(s). Uploads in flight fail with a retryable
// error.
func (c *Conn) Close() error {
	c.mu.Lock()
	c.closed = true
	idle := c.idle
	c.idle = nil
	c.mu.Unlock()
	for _, t := range idle {
		t.conn.Close()
	}
	var err error
	if c.qc != nil {
		err = c.qc.CloseWithError(0, "client closing")
	}
	c.closeTunnel()
	return err
}

// errClosed is returned by operations on a closed Conn.
var errClosed = fmt.Errorf("transport: connection closed: %w", net.ErrClosed)
