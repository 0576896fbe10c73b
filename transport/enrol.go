package transport

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"unicode/utf8"
)

// enrolDomain separates enrolment proofs from other uses of the agent key.
const enrolDomain = "dicomgate enrol v1\n"

// maxNameLen bounds the requested agent name.
const maxNameLen = 128

// EnrolRequest is what an agent sends to enrol. The server has already
// checked Proof against PublicKey before the Handler sees it.
type EnrolRequest struct {
	// Secret is the enrolment token's secret; look it up by
	// HashEnrolmentSecret.
	Secret [EnrolmentSecretSize]byte
	// PublicKey is the agent's key (ECDSA P-256 or Ed25519) to certify.
	PublicKey crypto.PublicKey
	// Name is the name the agent asks for (a hint; the relay decides the ID).
	Name string
	// WireGuardKey is the agent's WireGuard public key, or zero when the
	// agent does not use the tunnel. The relay registers it as a peer and
	// answers with an [EnrolResponse.WireGuard] grant.
	WireGuardKey WireGuardKey
	// Proof is the agent key's signature over the secret, key, name and
	// WireGuard key.
	Proof []byte
}

// EnrolResponse is what the relay returns to an enrolled agent.
type EnrolResponse struct {
	// AgentID is the ID the relay assigned; it is in the certificate.
	AgentID string
	// CertChain is the agent certificate DER, leaf first.
	CertChain [][]byte
	// CACert is the relay CA certificate DER, to pin from now on.
	CACert []byte
	// WireGuard is the agent's place in the relay's tunnel; set exactly
	// when the request carried a WireGuard key.
	WireGuard *WireGuardGrant
}

// TLSCertificate combines the response's chain with the agent key.
func (r *EnrolResponse) TLSCertificate(key crypto.Signer) tls.Certificate {
	return tls.Certificate{Certificate: r.CertChain, PrivateKey: key}
}

// CAPool returns a pool holding the relay CA certificate.
func (r *EnrolResponse) CAPool() (*x509.CertPool, error) {
	c, err := x509.ParseCertificate(r.CACert)
	if err != nil {
		return nil, fmt.Errorf("transport: enrol response ca: %w", err)
	}
	p := x509.NewCertPool()
	p.AddCert(c)
	return p, nil
}

// proofMessage is what the agent key signs. A WireGuard key, when given,
// is appended, so the relay registers only a key the agent vouches for.
func proofMessage(secret []byte, pubDER []byte, name string, wg WireGuardKey) []byte {
	b := append([]byte(enrolDomain), secret...)
	b = appendBytes(b, pubDER)
	b = appendString(b, name)
	if !wg.IsZero() {
		b = appendBytes(b, wg[:])
	}
	return b
}

func signProof(key crypto.Signer, msg []byte) ([]byte, error) {
	switch key.Public().(type) {
	case ed25519.PublicKey:
		return key.Sign(rand.Reader, msg, crypto.Hash(0))
	default:
		d := sha256.Sum256(msg)
		return key.Sign(rand.Reader, d[:], crypto.SHA256)
	}
}

func verifyProof(pub crypto.PublicKey, msg, sig []byte) bool {
	switch k := pub.(type) {
	case ed25519.PublicKey:
		return ed25519.Verify(k, msg, sig)
	case *ecdsa.PublicKey:
		d := sha256.Sum256(msg)
		return ecdsa.VerifyASN1(k, d[:], sig)
	}
	return false
}

func (r *EnrolRequest) marshal() ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(r.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("transport: enrol key: %w", err)
	}
	b := append([]byte(nil), r.Secret[:]...)
	b = appendBytes(b, der)
	b = appendString(b, r.Name)
	b = appendBytes(b, r.Proof)
	if !r.WireGuardKey.IsZero() {
		b = appendBytes(b, r.WireGuardKey[:])
	}
	return b, nil
}

// unmarshalEnrolRequest decodes and checks the proof of possession.
func unmarshalEnrolRequest(p []byte) (*EnrolRequest, error) {
	d := decoder{b: p}
	r := &EnrolRequest{}
	copy(r.Secret[:], d.fixed(EnrolmentSecretSize))
	der := d.bytes()
	r.Name = d.string()
	r.Proof = d.bytes()
	if len(d.b) > 0 { // the optional WireGuard key
		k := d.bytes()
		if len(k) != len(r.WireGuardKey) || WireGuardKey(k).IsZero() {
			return nil, errMalformed
		}
		r.WireGuardKey = WireGuardKey(k)
	}
	if err := d.finish(); err != nil {
		return nil, err
	}
	if len(r.Name) > maxNameLen || !utf8.ValidString(r.Name) {
		return nil, errMalformed
	}
	pub, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, errMalformed
	}
	if err := checkAgentKey(pub); err != nil {
		return nil, err
	}
	if !verifyProof(pub, proofMessage(r.Secret[:], der, r.Name, r.WireGuardKey), r.Proof) {
		return nil, errors.New("transport: enrolment proof does not verify")
	}
	r.PublicKey = pub
	return r, nil
}

func (r *EnrolResponse) marshal() []byte {
	b := appendString(nil, r.AgentID)
	b = appendUint64(b, uint64(len(r.CertChain)))
	for _, c := range r.CertChain {
		b = appendBytes(b, c)
	}
	b = appendBytes(b, r.CACert)
	if r.WireGuard != nil {
		b = r.WireGuard.append(b)
	}
	return b
}

func unmarshalEnrolResponse(p []byte) (*EnrolResponse, error) {
	d := decoder{b: p}
	r := &EnrolResponse{AgentID: d.string()}
	n := d.uint64()
	if n > 8 {
		return nil, errMalformed
	}
	for i := uint64(0); i < n; i++ {
		r.CertChain = append(r.CertChain, d.bytes())
	}
	r.CACert = d.bytes()
	if len(d.b) > 0 { // the optional WireGuard grant
		g, err := decodeWireGuardGrant(&d)
		if err != nil {
			return nil, err
		}
		r.WireGuard = g
	}
	if err := d.finish(); err != nil {
		return nil, err
	}
	return r, nil
}

// Enrol enrols an agent with the relay at addr using token. It pins the CA
// named by the token's fingerprint (the relay's chain must include that CA
// and verify against it for the host of addr), proves possession of
// agentKey, and returns the agent's certificate chain and the CA certificate.
// The QUIC-then-TCP choice is the same as Dial's ModeAuto. A refusal by the
// relay is a *RejectedError.
func Enrol(ctx context.Context, addr, token string, agentKey crypto.Signer, name string) (*EnrolResponse, error) {
	return enrol(ctx, addr, token, agentKey, name, WireGuardKey{})
}

// enrol is [Enrol], with the agent's WireGuard public key when wg is not
// zero ([EnrolWireGuard]).
func enrol(ctx context.Context, addr, token string, agentKey crypto.Signer, name string, wg WireGuardKey) (*EnrolResponse, error) {
	t, err := ParseEnrolmentToken(token)
	if err != nil {
		return nil, err
	}
	if err := checkAgentKey(agentKey.Public()); err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKIXPublicKey(agentKey.Public())
	if err != nil {
		return nil, fmt.Errorf("transport: enrol key: %w", err)
	}
	proof, err := signProof(agentKey, proofMessage(t.Secret[:], der, name, wg))
	if err != nil {
		return nil, fmt.Errorf("transport: enrol proof: %w", err)
	}
	c, err := Dial(ctx, ClientConfig{Addr: addr, PinnedCAFingerprint: t.CAFingerprint})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	req := &EnrolRequest{Secret: t.Secret, PublicKey: agentKey.Public(), Name: name, WireGuardKey: wg, Proof: proof}
	resp, err := c.enrol(ctx, req)
	if err != nil {
		return nil, err
	}
	ca, err := x509.ParseCertificate(resp.CACert)
	if err != nil || Fingerprint(ca) != t.CAFingerprint {
		return nil, errors.New("transport: enrol response names another ca")
	}
	if len(resp.CertChain) == 0 {
		return nil, errors.New("transport: enrol response has no certificate")
	}
	leaf, err := x509.ParseCertificate(resp.CertChain[0])
	if err != nil {
		return nil, fmt.Errorf("transport: enrol response certificate: %w", err)
	}
	if !publicKeysEqual(agentKey.Public(), leaf.PublicKey) {
		return nil, errors.New("transport: enrol response certifies another key")
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: poolOf(ca), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return nil, fmt.Errorf("transport: enrol response certificate: %w", err)
	}
	if id, err := AgentIDFromCert(leaf); err != nil || id != resp.AgentID {
		return nil, errors.New("transport: enrol response agent id does not match certificate")
	}
	if (resp.WireGuard != nil) != !wg.IsZero() {
		return nil, errors.New("transport: enrol response wireguard grant does not match the request")
	}
	return resp, nil
}

func poolOf(certs ...*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p
}
