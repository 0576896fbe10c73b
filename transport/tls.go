package transport

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
)

// alpn is the ALPN protocol ID on both QUIC and TCP.
const alpn = "dicomgate/1"

// errNotAuthorized is returned from the handshake for refused agents. Its
// text stays local: TLS sends only an alert code.
var errNotAuthorized = errors.New("transport: agent not authorized")

// serverTLSConfig builds the TLS 1.3 server config: client certificates are
// optional but verified against ClientCAs when given, and Authorize runs
// during the handshake with the handshake's context.
func serverTLSConfig(cfg *ServerConfig) *tls.Config {
	base := &tls.Config{
		MinVersion:             tls.VersionTLS13,
		MaxVersion:             tls.VersionTLS13,
		Certificates:           []tls.Certificate{cfg.Certificate},
		ClientAuth:             tls.VerifyClientCertIfGiven,
		ClientCAs:              cfg.ClientCAs,
		NextProtos:             []string{alpn},
		SessionTicketsDisabled: true, // every connection runs Authorize on a full handshake
	}
	authorize := cfg.Authorize
	conf := base.Clone()
	conf.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		c := base.Clone()
		ctx := hello.Context()
		c.VerifyConnection = func(cs tls.ConnectionState) error {
			return verifyAgent(ctx, cs, authorize)
		}
		return c, nil
	}
	return conf
}

// verifyAgent accepts connections without a client certificate (enrolment
// only) and checks agent certificates: verified chain, agent ID, Authorize.
func verifyAgent(ctx context.Context, cs tls.ConnectionState, authorize func(context.Context, string, *x509.Certificate) error) error {
	if len(cs.PeerCertificates) == 0 {
		return nil
	}
	if len(cs.VerifiedChains) == 0 {
		return errNotAuthorized
	}
	leaf := cs.PeerCertificates[0]
	id, err := AgentIDFromCert(leaf)
	if err != nil {
		return errNotAuthorized
	}
	if authorize != nil {
		if err := authorize(ctx, id, leaf); err != nil {
			return errNotAuthorized
		}
	}
	return nil
}

// peerFromState returns the Peer for a completed handshake; AgentID is empty
// when the client sent no certificate.
func peerFromState(cs tls.ConnectionState, remote net.Addr, proto Protocol) Peer {
	p := Peer{RemoteAddr: remote, Protocol: proto}
	if len(cs.PeerCertificates) > 0 && len(cs.VerifiedChains) > 0 {
		if id, err := AgentIDFromCert(cs.PeerCertificates[0]); err == nil {
			p.AgentID = id
			p.Certificate = cs.PeerCertificates[0]
		}
	}
	return p
}

// clientTLSConfig builds the TLS 1.3 client config for cfg.
func clientTLSConfig(cfg *ClientConfig) (*tls.Config, error) {
	host := cfg.ServerName
	if host == "" {
		h, _, err := net.SplitHostPort(cfg.Addr)
		if err != nil {
			return nil, fmt.Errorf("transport: relay address: %w", err)
		}
		host = h
	}
	c := &tls.Config{
		MinVersion: tls.VersionTLS13,
		MaxVersion: tls.VersionTLS13,
		ServerName: host,
		NextProtos: []string{alpn},
		RootCAs:    cfg.RootCAs,
	}
	if len(cfg.Certificate.Certificate) > 0 {
		c.Certificates = []tls.Certificate{cfg.Certificate}
	}
	switch {
	case cfg.PinnedCAFingerprint != "":
		// The default verification is replaced by the pin check below, which
		// still verifies the chain and the host name.
		c.InsecureSkipVerify = true
		fp := cfg.PinnedCAFingerprint
		c.VerifyConnection = func(cs tls.ConnectionState) error { return verifyPinned(cs, fp, host) }
	case cfg.RootCAs == nil:
		return nil, errors.New("transport: no relay ca configured")
	}
	return c, nil
}

// errPinMismatch is returned when the relay's chain lacks the pinned CA.
var errPinMismatch = errors.New("transport: relay certificate chain does not match the pinned ca")

// verifyPinned finds the CA with fingerprint fp in the presented chain and
// verifies the leaf against it alone.
func verifyPinned(cs tls.ConnectionState, fp, host string) error {
	if len(cs.PeerCertificates) == 0 {
		return errPinMismatch
	}
	var ca *x509.Certificate
	for _, c := range cs.PeerCertificates[1:] {
		if Fingerprint(c) == fp {
			ca = c
		}
	}
	if ca == nil {
		return errPinMismatch
	}
	_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{DNSName: host, Roots: poolOf(ca)})
	if err != nil {
		return fmt.Errorf("%w: %w", errPinMismatch, err)
	}
	return nil
}
