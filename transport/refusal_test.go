package transport

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestHandshakeRefusalReasons: every refused agent certificate is refused
// at the handshake, over QUIC and TCP, with one OnRefused call naming the
// reason, the presented certificate and the peer; the agent's Dial error
// is a *CertificateRefusedError with its own diagnosis; the handler sees
// nothing.
func TestHandshakeRefusalReasons(t *testing.T) {
	var mu sync.Mutex
	var got []Refusal
	env := newEnv(t, envOptions{
		authorize: func(ctx context.Context, id string, cert *x509.Certificate) error {
			switch id {
			case "revoked-1":
				return &RejectedError{Code: RefusedRevoked, Message: "revoked"}
			case "unknown-1":
				return errors.New("no such agent")
			}
			return nil
		},
		onRefused: func(ctx context.Context, r Refusal) {
			mu.Lock()
			got = append(got, r)
			mu.Unlock()
		},
	})
	foreign, err := NewCA("foreign")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	cert := func(ca *CA, id string, nb, na time.Time) tls.Certificate {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		der, err := ca.IssueClientCertBetween(key.Public(), id, nb, na)
		if err != nil {
			t.Fatal(err)
		}
		return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	}
	cases := []struct {
		name       string
		cert       tls.Certificate
		reason     string // at the relay
		diagnosis  string // at the agent
		wantInText string
	}{
		{"expired", cert(env.ca, "site-1", now.Add(-48*time.Hour), now.Add(-time.Hour)), RefusedExpired, RefusedExpired, "re-enrol"},
		{"not yet valid", cert(env.ca, "site-1", now.Add(time.Hour), now.Add(48*time.Hour)), RefusedNotYetValid, RefusedNotYetValid, "clock skew"},
		{"foreign ca", cert(foreign, "site-1", now.Add(-time.Hour), now.Add(time.Hour)), RefusedUnknownCA, RefusedNotAuthorized, "revoked"},
		{"revoked", cert(env.ca, "revoked-1", now.Add(-time.Hour), now.Add(time.Hour)), RefusedRevoked, RefusedNotAuthorized, "revoked"},
		{"authorize without code", cert(env.ca, "unknown-1", now.Add(-time.Hour), now.Add(time.Hour)), RefusedNotAuthorized, RefusedNotAuthorized, "operator"},
	}
	for _, mode := range modes {
		for _, tc := range cases {
			t.Run(string(mode)+"/"+tc.name, func(t *testing.T) {
				mu.Lock()
				got = nil
				mu.Unlock()
				cfg := env.clientConfig(mode)
				// Sent whatever CAs the relay names (a client given a
				// plain Certificate withholds one the relay's CA did
				// not sign, and connects without, enrolment only).
				cert := tc.cert
				cfg.GetCertificate = func() (*tls.Certificate, error) { return &cert, nil }
				c, err := Dial(context.Background(), cfg)
				if err == nil {
					c.Close()
					t.Fatal("refused certificate connected")
				}
				var cr *CertificateRefusedError
				if !errors.As(err, &cr) || cr.Reason != tc.diagnosis {
					t.Fatalf("dial error %v, want a *CertificateRefusedError %s", err, tc.diagnosis)
				}
				if !strings.Contains(err.Error(), tc.wantInText) {
					t.Errorf("error %q does not say %q", err, tc.wantInText)
				}
				mu.Lock()
				defer mu.Unlock()
				if len(got) != 1 {
					t.Fatalf("%d refusals reported, want 1: %+v", len(got), got)
				}
				r := got[0]
				leaf, _ := x509.ParseCertificate(tc.cert.Certificate[0])
				if r.Reason != tc.reason || r.Fingerprint != Fingerprint(leaf) || r.CommonName != leaf.Subject.CommonName ||
					r.Protocol != Protocol(mode) || r.RemoteAddr == nil {
					t.Fatalf("refusal %+v, want reason %s, fingerprint %s, protocol %s and an address", r, tc.reason, Fingerprint(leaf), mode)
				}
			})
		}
	}
	env.handler.mu.Lock()
	defer env.handler.mu.Unlock()
	if env.handler.begins != 0 {
		t.Fatalf("handler saw %d offers", env.handler.begins)
	}
}

// TestAgentClockSkew: the relay's certificate is checked at the agent's
// clock. Hours either way, and days ahead, connect; days behind (before
// the relay certificate's back-dated start) fail at once with a
// *ClockSkewError naming clock skew, without a TCP fallback attempt
// hiding it.
func TestAgentClockSkew(t *testing.T) {
	env := newEnv(t, envOptions{})
	for _, mode := range []Mode{ModeQUIC, ModeTCP, ModeAuto} {
		for _, skew := range []time.Duration{-6 * time.Hour, 6 * time.Hour, 72 * time.Hour, -72 * time.Hour} {
			t.Run(string(mode)+"/"+skew.String(), func(t *testing.T) {
				cfg := env.clientConfig(mode)
				cfg.Time = func() time.Time { return time.Now().Add(skew) }
				c, err := Dial(context.Background(), cfg)
				if skew > -backdating {
					if err != nil {
						t.Fatalf("skew %s: %v", skew, err)
					}
					c.Close()
					return
				}
				if err == nil {
					c.Close()
					t.Fatal("connected although the relay certificate is not valid yet at this clock")
				}
				var ce *ClockSkewError
				if !errors.As(err, &ce) || !strings.Contains(err.Error(), "clock skew") {
					t.Fatalf("err = %v, want a *ClockSkewError naming clock skew", err)
				}
				if !Retryable(err) {
					t.Errorf("clock skew must stay retryable: the clock may be fixed")
				}
			})
		}
	}
}

// TestClockExchange: the relay answers its time and reports the agent's
// claimed time to OnClock; the reading gives the agent's skew.
func TestClockExchange(t *testing.T) {
	type seen struct {
		id           string
		agent, relay time.Time
	}
	ch := make(chan seen, 4)
	env := newEnv(t, envOptions{onClock: func(ctx context.Context, p Peer, agentTime, relayTime time.Time) {
		ch <- seen{p.AgentID, agentTime, relayTime}
	}})
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			cfg := env.clientConfig(mode)
			cfg.Time = func() time.Time { return time.Now().Add(6 * time.Hour) }
			c, err := Dial(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			r, err := c.Clock(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if s := r.Skew(); s < 6*time.Hour-time.Minute || s > 6*time.Hour+time.Minute {
				t.Errorf("skew %s, want about 6h", s)
			}
			if d := r.RelayNow(r.Received).Sub(r.Relay); d < 0 || d > time.Minute {
				t.Errorf("relay time estimate %s off the relay's answer", d)
			}
			s := <-ch
			if s.id != "site-1" || s.agent.Sub(s.relay) < 6*time.Hour-time.Minute {
				t.Errorf("OnClock saw %+v", s)
			}
		})
	}
}

// TestRenew: an agent renews over its authenticated connection; the new
// chain certifies the asked key for the same agent; a connection without
// a certificate cannot renew.
func TestRenew(t *testing.T) {
	env := newEnv(t, envOptions{})
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			c := env.dial(t, mode)
			key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			resp, err := c.Renew(context.Background(), key)
			if err != nil {
				t.Fatal(err)
			}
			leaf, err := x509.ParseCertificate(resp.CertChain[0])
			if err != nil {
				t.Fatal(err)
			}
			if id, _ := AgentIDFromCert(leaf); id != "site-1" || !publicKeysEqual(leaf.PublicKey, key.Public()) {
				t.Fatalf("renewed certificate for %s, key match %v", id, publicKeysEqual(leaf.PublicKey, key.Public()))
			}
			// The renewed certificate connects.
			cfg := env.clientConfig(mode)
			cfg.Certificate = tls.Certificate{Certificate: resp.CertChain, PrivateKey: key}
			c2, err := Dial(context.Background(), cfg)
			if err != nil {
				t.Fatalf("dial with renewed certificate: %v", err)
			}
			c2.Close()

			anon := env.clientConfig(mode)
			anon.Certificate = tls.Certificate{}
			c3, err := Dial(context.Background(), anon)
			if err != nil {
				t.Fatal(err)
			}
			defer c3.Close()
			if _, err := c3.Renew(context.Background(), key); err == nil {
				t.Fatal("renewal without a certificate")
			}
		})
	}
}
