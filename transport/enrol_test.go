package transport

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestEnrol(t *testing.T) {
	env := newEnv(t, envOptions{})
	other, err := NewCA("someone else")
	if err != nil {
		t.Fatal(err)
	}
	mint := func(fp string) string {
		tok, hash, err := NewEnrolmentToken(fp)
		if err != nil {
			t.Fatal(err)
		}
		env.handler.mu.Lock()
		env.handler.tokens[hash] = time.Now().Add(time.Hour)
		env.handler.mu.Unlock()
		return tok
	}
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	used := mint(env.ca.Fingerprint())
	if _, err := Enrol(context.Background(), env.server.Addr().String(), used, ecKey, "first"); err != nil {
		t.Fatalf("first use of token: %v", err)
	}
	expired, hash, _ := NewEnrolmentToken(env.ca.Fingerprint())
	env.handler.mu.Lock()
	env.handler.tokens[hash] = time.Now().Add(-time.Minute)
	env.handler.mu.Unlock()

	tests := []struct {
		name     string
		token    string
		key      crypto.Signer
		wantCode string // "" = success
		wantErr  bool   // local failure, relay not consulted
	}{
		{name: "ecdsa", token: mint(env.ca.Fingerprint()), key: ecKey},
		{name: "ed25519", token: mint(env.ca.Fingerprint()), key: edKey},
		{name: "token used twice", token: used, key: ecKey, wantCode: CodeEnrolmentRefused},
		{name: "expired token", token: expired, key: ecKey, wantCode: CodeEnrolmentRefused},
		{name: "unknown secret", token: mustToken(t, env.ca.Fingerprint()), key: ecKey, wantCode: CodeEnrolmentRefused},
		{name: "wrong fingerprint", token: mint(other.Fingerprint()), key: ecKey, wantErr: true},
		{name: "malformed token", token: "dgt1.nope", key: ecKey, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env.handler.mu.Lock()
			before := env.handler.enrols
			env.handler.mu.Unlock()
			resp, err := Enrol(context.Background(), env.server.Addr().String(), tc.token, tc.key, "site")
			env.handler.mu.Lock()
			consulted := env.handler.enrols - before
			env.handler.mu.Unlock()
			switch {
			case tc.wantErr:
				if err == nil || consulted != 0 {
					t.Fatalf("err = %v, handler consulted %d times; want local refusal", err, consulted)
				}
				return
			case tc.wantCode != "":
				var rej *RejectedError
				if !errors.As(err, &rej) || rej.Code != tc.wantCode {
					t.Fatalf("err = %v, want %s", err, tc.wantCode)
				}
				return
			case err != nil:
				t.Fatalf("enrol: %v", err)
			}
			if resp.AgentID != "agent-site" || !bytes.Equal(resp.CACert, env.ca.Certificate().Raw) {
				t.Fatalf("response %q does not carry the agent id and ca", resp.AgentID)
			}
			leaf, _ := x509.ParseCertificate(resp.CertChain[0])
			if id, err := AgentIDFromCert(leaf); err != nil || id != "agent-site" {
				t.Fatalf("certificate agent id %q, %v", id, err)
			}
			// The enrolled identity uploads with the pinned CA.
			pool, err := resp.CAPool()
			if err != nil {
				t.Fatal(err)
			}
			c, err := Dial(context.Background(), ClientConfig{Addr: env.server.Addr().String(), Certificate: resp.TLSCertificate(tc.key), RootCAs: pool})
			if err != nil {
				t.Fatalf("dial with enrolled certificate: %v", err)
			}
			defer c.Close()
			data, offer := testFile("enrolled-"+tc.name, 1000)
			if _, err := c.Upload(context.Background(), offer, bytes.NewReader(data)); err != nil {
				t.Fatalf("upload with enrolled certificate: %v", err)
			}
		})
	}
}

// mustToken mints a token the relay does not know.
func mustToken(t *testing.T, fp string) string {
	tok, _, err := NewEnrolmentToken(fp)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestEnrolmentTokenParse(t *testing.T) {
	ca, _ := NewCA("x")
	good, hash, err := NewEnrolmentToken(ca.Fingerprint())
	if err != nil {
		t.Fatal(err)
	}
	tok, err := ParseEnrolmentToken(" " + good + "\n")
	if err != nil || tok.CAFingerprint != ca.Fingerprint() || HashEnrolmentSecret(tok.Secret[:]) != hash || tok.String() != good {
		t.Fatalf("round trip failed: %v", err)
	}
	parts := strings.Split(good, ".")
	bad := []string{
		"",
		"dgt2." + parts[1] + "." + parts[2],
		parts[0] + "." + parts[1],
		parts[0] + "." + parts[1][1:] + "." + parts[2],
		parts[0] + "." + parts[1] + "." + strings.ToUpper(parts[2]),
		parts[0] + "." + parts[1] + "." + parts[2][1:],
		parts[0] + ".!!!." + parts[2],
	}
	for _, s := range bad {
		if _, err := ParseEnrolmentToken(s); err == nil {
			t.Errorf("ParseEnrolmentToken(%q) accepted", s)
		} else if parts[1] != "" && strings.Contains(err.Error(), parts[1]) {
			t.Errorf("error echoes the secret")
		}
	}
	if _, _, err := NewEnrolmentToken("abc"); err == nil {
		t.Error("NewEnrolmentToken accepted a bad fingerprint")
	}
}
