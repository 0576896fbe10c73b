package agent

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"dicomgate/transport"
)

// certHolder holds the agent's current certificate. The uploader (new
// connections) and the reviewer (HTTPS calls) take it at each handshake,
// so a renewed certificate is used from then on.
type certHolder struct {
	key ed25519.PrivateKey

	mu sync.Mutex
	// +checklocks:mu
	cert *tls.Certificate
	// +checklocks:mu
	leaf *x509.Certificate
}

func newCertHolder(id *Identity) *certHolder {
	return &certHolder{key: id.Key, cert: &tls.Certificate{Certificate: id.Chain, PrivateKey: id.Key, Leaf: id.Leaf()},
		leaf: id.Leaf()}
}

// get returns the current certificate (transport.ClientConfig.GetCertificate).
func (h *certHolder) get() (*tls.Certificate, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.cert, nil
}

// current returns the current leaf.
func (h *certHolder) current() *x509.Certificate {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.leaf
}

// set makes chain (for the same key) the current certificate.
func (h *certHolder) set(chain [][]byte) error {
	leaf, err := x509.ParseCertificate(chain[0])
	if err != nil {
		return fmt.Errorf("agent: renewed certificate: %w", err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.cert, h.leaf = &tls.Certificate{Certificate: chain, PrivateKey: h.key, Leaf: leaf}, leaf
	return nil
}

// renewer renews the agent's certificate before it expires, over the
// uploader's connection (authenticated with the current certificate).
//
// The key stays the same (it also signs the manifests the relay and the
// core labs verify against the enrolled key), so only agent.crt changes,
// replaced atomically: a crash at any point leaves the old or the new
// certificate, and the relay accepts both until they expire.
type renewer struct {
	log   zerolog.Logger
	dir   string // identity folder
	key   ed25519.PrivateKey
	certs *certHolder
	up    *RelayUploader
	// before is relay.renew_before; 0 means a third of the lifetime.
	before time.Duration
	now    func() time.Time

	expiredLogged bool
}

// Run checks the certificate at once and then as check says, until ctx
// ends.
func (r *renewer) Run(ctx context.Context) {
	for {
		wait := r.check(ctx)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// window returns how long before NotAfter leaf is renewed.
func (r *renewer) window(leaf *x509.Certificate) time.Duration {
	if r.before > 0 {
		return r.before
	}
	return transport.IssuedLifetime(leaf) / 3
}

// check renews the certificate when it is within its renewal window (by
// the relay's clock as last measured, else this machine's) and returns
// when to check again.
func (r *renewer) check(ctx context.Context) time.Duration {
	leaf := r.certs.current()
	window := r.window(leaf)
	every := min(max(window/4, time.Second), time.Minute)
	left := leaf.NotAfter.Sub(r.up.relayNow(r.now()))
	switch {
	case left > window:
		return min(every, left-window)
	case left <= 0:
		if !r.expiredLogged {
			r.expiredLogged = true
			r.log.Error().Time("not_after", leaf.NotAfter).
				Msg("agent certificate expired before it could be renewed: re-enrol the agent (dicomgate agent enroll --force) with a new token")
		}
		return every
	}
	if err := r.renew(ctx); err != nil {
		if ctx.Err() == nil {
			r.log.Warn().Err(err).Dur("left", left.Round(time.Second)).Msg("certificate renewal failed; retrying")
		}
		return every
	}
	r.expiredLogged = false
	return every
}

// renew asks the relay for a new certificate, saves it and makes it
// current; the connection authenticated with the old one is retired.
func (r *renewer) renew(ctx context.Context) error {
	c, err := r.up.connect(ctx)
	if err != nil {
		return fmt.Errorf("agent: renew: connect to relay: %w", err)
	}
	resp, err := c.Renew(ctx, r.key)
	if err != nil {
		var rej *transport.RejectedError
		if !errors.As(err, &rej) && ctx.Err() == nil {
			r.up.drop(c)
		}
		return fmt.Errorf("agent: renew: %w", err)
	}
	var pemChain []byte
	for _, der := range resp.CertChain {
		pemChain = append(pemChain, transport.EncodeCertificatePEM(der)...)
	}
	if err := writeFileAtomicMode(filepath.Join(r.dir, IdentityCertFile), pemChain, 0o644); err != nil {
		return fmt.Errorf("agent: renew: %w", err)
	}
	if err := r.certs.set(resp.CertChain); err != nil {
		return err
	}
	r.up.retire(c)
	leaf := r.certs.current()
	r.log.Info().Time("not_after", leaf.NotAfter).Str("serial", leaf.SerialNumber.String()).Msg("agent certificate renewed")
	return nil
}
