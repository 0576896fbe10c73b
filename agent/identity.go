package agent

import (
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"dicomgate/seal"
	"dicomgate/transport"
)

// Files of an identity folder, written by [Enroll].
const (
	// IdentityKeyFile is the agent's Ed25519 key (PEM PKCS #8, mode 0600).
	// It authenticates the agent to the relay (TLS client certificate) and
	// signs every manifest: the relay checks that both are the same key.
	IdentityKeyFile = "agent.key"
	// IdentityCertFile is the agent's certificate chain, PEM, leaf first.
	IdentityCertFile = "agent.crt"
	// IdentityCAFile is the pinned relay CA certificate, PEM.
	IdentityCAFile = "ca.crt"
	// IdentityInfoFile holds the agent ID, relay address and CA
	// fingerprint, JSON.
	IdentityInfoFile = "agent.json"
)

// Identity errors callers may branch on.
var (
	// ErrNotEnrolled: the identity folder holds no identity.
	ErrNotEnrolled = errors.New("agent: not enrolled: run `dicomgate agent enroll` first")
	// ErrIdentityExists: Enroll would overwrite an identity.
	ErrIdentityExists = errors.New("agent: an identity already exists (use --force to replace it)")
)

// Identity is what an enrolled agent holds: its key, the certificate the
// relay's CA issued for it and the pinned relay CA.
type Identity struct {
	// AgentID is the ID the relay assigned, as in the certificate.
	AgentID string
	// RelayAddress is the relay the agent enrolled with.
	RelayAddress string
	// CAFingerprint is the lowercase hex SHA-256 of the relay CA.
	CAFingerprint string
	// Key is the agent's Ed25519 key: TLS client key and manifest signer.
	Key ed25519.PrivateKey
	// Chain is the certificate chain (DER), leaf first.
	Chain [][]byte
	// CA is the pinned relay CA certificate.
	CA *x509.Certificate
	// WireGuard is the agent's place in the relay's WireGuard tunnel when
	// it enrolled with a WireGuard key ([EnrollWireGuard]), else nil. The
	// private key is in its own file (wg.key, or the configured one).
	WireGuard *transport.WireGuardGrant
}

// identityInfo is the JSON form of agent.json.
type identityInfo struct {
	AgentID       string         `json:"agent_id"`
	RelayAddress  string         `json:"relay_address"`
	CAFingerprint string         `json:"ca_fingerprint"`
	WireGuard     *wireGuardInfo `json:"wireguard,omitempty"`
}

// TLSCertificate returns the client certificate for transport.Dial.
func (id *Identity) TLSCertificate() tls.Certificate {
	return tls.Certificate{Certificate: id.Chain, PrivateKey: id.Key}
}

// CAPool returns a pool holding only the pinned relay CA.
func (id *Identity) CAPool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(id.CA)
	return p
}

// LoadIdentity reads the identity in dir written by [Enroll] and checks it
// is consistent: the certificate is for the key, names the recorded agent
// ID, and the CA matches the recorded fingerprint. A folder without an
// identity gives an error wrapping [ErrNotEnrolled].
func LoadIdentity(dir string) (*Identity, error) {
	keyPEM, err := os.ReadFile(filepath.Join(dir, IdentityKeyFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotEnrolled
	}
	if err != nil {
		return nil, fmt.Errorf("agent: identity: %w", pathless(err))
	}
	key, err := seal.ParseSigningKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("agent: identity key: %w", err)
	}
	var info identityInfo
	if err := readJSON(filepath.Join(dir, IdentityInfoFile), &info); err != nil {
		return nil, err
	}
	chainPEM, err := os.ReadFile(filepath.Join(dir, IdentityCertFile))
	if err != nil {
		return nil, fmt.Errorf("agent: identity certificate: %w", pathless(err))
	}
	chain := decodeCertificates(chainPEM)
	if len(chain) == 0 {
		return nil, errors.New("agent: identity certificate: no certificate")
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, IdentityCAFile))
	if err != nil {
		return nil, fmt.Errorf("agent: identity CA: %w", pathless(err))
	}
	ca, err := transport.ParseCertificatePEM(caPEM)
	if err != nil {
		return nil, fmt.Errorf("agent: identity CA: %w", err)
	}
	grant, err := info.WireGuard.grant()
	if err != nil {
		return nil, err
	}
	id := &Identity{AgentID: info.AgentID, RelayAddress: info.RelayAddress,
		CAFingerprint: info.CAFingerprint, Key: key, Chain: chain, CA: ca, WireGuard: grant}
	if err := id.check(); err != nil {
		return nil, err
	}
	return id, nil
}

// check verifies that the parts of id belong together.
func (id *Identity) check() error {
	leaf, err := x509.ParseCertificate(id.Chain[0])
	if err != nil {
		return fmt.Errorf("agent: identity certificate: %w", err)
	}
	pub, ok := leaf.PublicKey.(ed25519.PublicKey)
	if !ok || !pub.Equal(id.Key.Public()) {
		return errors.New("agent: identity: certificate is not for the agent key")
	}
	certID, err := transport.AgentIDFromCert(leaf)
	if err != nil {
		return fmt.Errorf("agent: identity certificate: %w", err)
	}
	if certID != id.AgentID {
		return errors.New("agent: identity: agent ID differs from the certificate's")
	}
	if transport.Fingerprint(id.CA) != id.CAFingerprint {
		return errors.New("agent: identity: CA certificate differs from the recorded fingerprint")
	}
	// Checked at the certificate's own start: whether it is still valid
	// is the relay's call at the handshake (an expired identity must still
	// load, so that the agent can say what to do).
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: id.CAPool(), CurrentTime: leaf.NotBefore,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return fmt.Errorf("agent: identity: certificate not issued by the pinned CA: %w", err)
	}
	return nil
}

// Leaf returns the parsed agent certificate (the identity was checked
// when loaded, so it parses).
func (id *Identity) Leaf() *x509.Certificate {
	leaf, _ := x509.ParseCertificate(id.Chain[0])
	return leaf
}

// decodeCertificates returns the DER of every CERTIFICATE block in data.
func decodeCertificates(data []byte) [][]byte {
	var out [][]byte
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return out
		}
		if b.Type == "CERTIFICATE" {
			out = append(out, b.Bytes)
		}
	}
}

// readJSON decodes the JSON file at path into v.
func readJSON(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("agent: read %s: %w", filepath.Base(path), pathless(err))
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("agent: parse %s: %w", filepath.Base(path), err)
	}
	return nil
}
