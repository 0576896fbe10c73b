package transport

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"time"
)

// alpn is the ALPN protocol ID on both QUIC and TCP.
const alpn = "dicomgate/1"

// errNotAuthorized is returned from the handshake for refused agents. Its
// text stays local: TLS sends only an alert code.
var errNotAuthorized = errors.New("transport: agent not authorized")

// serverTLSConfig builds the TLS 1.3 server config of one protocol. Client
// certificates are requested, not required, and verified by verifyAgent
// rather than by crypto/tls, so that every refusal (expired, not yet
// valid, foreign CA, revoked, unknown) has a reason ServerConfig.OnRefused
// can audit. Authorize runs during the handshake with its context.
func serverTLSConfig(cfg *ServerConfig, proto Protocol) *tls.Config {
	base := &tls.Config{
		MinVersion:             tls.VersionTLS13,
		MaxVersion:             tls.VersionTLS13,
		Certificates:           []tls.Certificate{cfg.Certificate},
		ClientAuth:             tls.RequestClientCert,
		ClientCAs:              cfg.ClientCAs, // named in the CertificateRequest
		NextProtos:             []string{alpn},
		SessionTicketsDisabled: true, // every connection runs Authorize on a full handshake
	}
	conf := base.Clone()
	conf.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		c := base.Clone()
		ctx := hello.Context()
		var remote net.Addr
		if hello.Conn != nil {
			remote = hello.Conn.RemoteAddr()
		}
		c.VerifyConnection = func(cs tls.ConnectionState) error {
			r := verifyAgent(ctx, cs, cfg)
			if r == nil {
				return nil
			}
			r.RemoteAddr, r.Protocol = remote, proto
			if cfg.OnRefused != nil {
				cfg.OnRefused(ctx, *r)
			}
			cfg.Logger.Debug().Str("reason", r.Reason).Str("proto", string(proto)).Msg("agent certificate refused at handshake")
			return errNotAuthorized
		}
		return c, nil
	}
	return conf
}

// verifyAgent accepts connections without a client certificate (enrolment
// only) and checks agent certificates: chain to the CA at the relay's
// time, client-auth usage, agent ID, Authorize. It returns the refusal,
// or nil.
func verifyAgent(ctx context.Context, cs tls.ConnectionState, cfg *ServerConfig) *Refusal {
	if len(cs.PeerCertificates) == 0 {
		return nil
	}
	leaf := cs.PeerCertificates[0]
	now := cfg.now()
	r := newRefusal(leaf)
	if err := verifyAgentChain(cs.PeerCertificates, cfg.ClientCAs, now); err != nil {
		r.Reason, r.Err = chainRefusalReason(err, now), err
		return r
	}
	id, err := AgentIDFromCert(leaf)
	if err != nil {
		r.Reason, r.Err = RefusedBadCertificate, err
		return r
	}
	r.AgentID = id
	if cfg.Authorize != nil {
		if err := cfg.Authorize(ctx, id, leaf); err != nil {
			r.Reason, r.Err = RefusedNotAuthorized, err
			var rej *RejectedError
			if errors.As(err, &rej) && rej.Code != "" {
				r.Reason = rej.Code
			}
			return r
		}
	}
	return nil
}

// verifyAgentChain verifies an agent certificate chain against the CA
// pool at now, for client authentication.
func verifyAgentChain(certs []*x509.Certificate, roots *x509.CertPool, now time.Time) error {
	opts := x509.VerifyOptions{
		Roots:         roots,
		CurrentTime:   now,
		Intermediates: x509.NewCertPool(),
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	for _, c := range certs[1:] {
		opts.Intermediates.AddCert(c)
	}
	_, err := certs[0].Verify(opts)
	return err
}

// peerFromState returns the Peer for a completed handshake; AgentID is empty
// when the client sent no certificate. The handshake already refused bad
// certificates; the chain is checked again here so that a connection is
// only ever authenticated by a verified certificate (fail closed).
func peerFromState(cs tls.ConnectionState, remote net.Addr, proto Protocol, cfg *ServerConfig) Peer {
	p := Peer{RemoteAddr: remote, Protocol: proto}
	if len(cs.PeerCertificates) == 0 {
		return p
	}
	if verifyAgentChain(cs.PeerCertificates, cfg.ClientCAs, cfg.now()) != nil {
		return p
	}
	if id, err := AgentIDFromCert(cs.PeerCertificates[0]); err == nil {
		p.AgentID = id
		p.Certificate = cs.PeerCertificates[0]
	}
	return p
}

// clientTLSConfig builds the TLS 1.3 client config for cfg. The relay's
// chain is verified by verifyRelay (against RootCAs, or the CA pinned by
// fingerprint) at the time of cfg.Time, so that a certificate that is not
// valid at this machine's time gives a *ClockSkewError. When that happens,
// the error is also kept in *skew for Dial.
func clientTLSConfig(cfg *ClientConfig, skew *skewNote) (*tls.Config, error) {
	host := cfg.ServerName
	if host == "" {
		h, _, err := net.SplitHostPort(cfg.Addr)
		if err != nil {
			return nil, fmt.Errorf("transport: relay address: %w", err)
		}
		host = h
	}
	if cfg.PinnedCAFingerprint == "" && cfg.RootCAs == nil {
		return nil, errors.New("transport: no relay ca configured")
	}
	c := &tls.Config{
		MinVersion: tls.VersionTLS13,
		MaxVersion: tls.VersionTLS13,
		ServerName: host,
		NextProtos: []string{alpn},
		RootCAs:    cfg.RootCAs,
		// The default verification is replaced by verifyRelay, which still
		// verifies the chain and the host name.
		InsecureSkipVerify: true,
	}
	switch {
	case cfg.GetCertificate != nil:
		get := cfg.GetCertificate
		c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return get() }
	case len(cfg.Certificate.Certificate) > 0:
		c.Certificates = []tls.Certificate{cfg.Certificate}
	}
	fp, roots, now := cfg.PinnedCAFingerprint, cfg.RootCAs, cfg.now
	c.VerifyConnection = func(cs tls.ConnectionState) error {
		err := verifyRelay(cs, fp, roots, host, now())
		var ce *ClockSkewError
		if errors.As(err, &ce) {
			skew.set(ce)
		}
		return err
	}
	return c, nil
}

// errPinMismatch is returned when the relay's chain lacks the pinned CA.
var errPinMismatch = errors.New("transport: relay certificate chain does not match the pinned ca")

// verifyRelay verifies the relay's chain for host at now: against roots,
// or, when fp is set, against the CA with fingerprint fp found in the
// presented chain alone. A chain that fails only because of the time is a
// *ClockSkewError.
func verifyRelay(cs tls.ConnectionState, fp string, roots *x509.CertPool, host string, now time.Time) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("transport: relay sent no certificate")
	}
	leaf := cs.PeerCertificates[0]
	opts := x509.VerifyOptions{DNSName: host, Roots: roots, CurrentTime: now, Intermediates: x509.NewCertPool()}
	if fp != "" {
		var ca *x509.Certificate
		for _, c := range cs.PeerCertificates[1:] {
			if Fingerprint(c) == fp {
				ca = c
			}
		}
		if ca == nil {
			return errPinMismatch
		}
		opts.Roots = poolOf(ca)
	} else {
		for _, c := range cs.PeerCertificates[1:] {
			opts.Intermediates.AddCert(c)
		}
	}
	_, err := leaf.Verify(opts)
	if err == nil {
		return nil
	}
	var inv x509.CertificateInvalidError
	if errors.As(err, &inv) && inv.Reason == x509.Expired && inv.Cert != nil {
		// Would the chain verify at a time inside the certificate's
		// validity? Then only the clock is wrong (or the certificate
		// really expired).
		opts.CurrentTime = inv.Cert.NotBefore
		if leaf.NotBefore.After(opts.CurrentTime) {
			opts.CurrentTime = leaf.NotBefore
		}
		if _, err2 := leaf.Verify(opts); err2 == nil {
			return &ClockSkewError{Now: now, NotBefore: inv.Cert.NotBefore, NotAfter: inv.Cert.NotAfter}
		}
	}
	if fp != "" {
		return fmt.Errorf("%w: %w", errPinMismatch, err)
	}
	return fmt.Errorf("transport: relay certificate: %w", err)
}
