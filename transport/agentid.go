package transport

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// agentURIPrefix starts the URI SAN that carries the agent ID.
const agentURIPrefix = "dicomgate:agent:"

// maxAgentIDLen bounds agent IDs.
const maxAgentIDLen = 64

// ValidateAgentID checks that id is 1..64 characters of [A-Za-z0-9._-].
func ValidateAgentID(id string) error {
	if id == "" || len(id) > maxAgentIDLen {
		return fmt.Errorf("transport: agent id must be 1..%d characters", maxAgentIDLen)
	}
	for _, c := range id {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
		if !ok {
			return errors.New("transport: agent id may hold only letters, digits, '.', '_' and '-'")
		}
	}
	return nil
}

func agentURI(id string) *url.URL {
	return &url.URL{Scheme: "dicomgate", Opaque: "agent:" + id}
}

// AgentIDFromCert returns the agent ID of an agent certificate: its URI SAN
// "dicomgate:agent:<id>", which must agree with the CommonName.
func AgentIDFromCert(cert *x509.Certificate) (string, error) {
	if cert == nil {
		return "", errors.New("transport: no agent certificate")
	}
	for _, u := range cert.URIs {
		s := u.String()
		if !strings.HasPrefix(s, agentURIPrefix) {
			continue
		}
		id := strings.TrimPrefix(s, agentURIPrefix)
		if err := ValidateAgentID(id); err != nil {
			return "", err
		}
		if cert.Subject.CommonName != id {
			return "", errors.New("transport: agent certificate common name does not match its uri")
		}
		return id, nil
	}
	return "", errors.New("transport: certificate carries no agent id")
}

// checkAgentKey accepts ECDSA P-256 and Ed25519 public keys.
func checkAgentKey(pub crypto.PublicKey) error {
	switch k := pub.(type) {
	case ed25519.PublicKey:
		if len(k) == ed25519.PublicKeySize {
			return nil
		}
	case *ecdsa.PublicKey:
		if k.Curve == elliptic.P256() {
			return nil
		}
	}
	return errors.New("transport: agent key must be ecdsa p-256 or ed25519")
}
