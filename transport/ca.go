package transport

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"time"
)

// File names used by CA.Save and LoadCA.
const (
	caCertFile = "ca.crt"
	caKeyFile  = "ca.key"
)

// Default certificate lifetimes.
const (
	caValidity     = 10 * 365 * 24 * time.Hour
	serverValidity = 365 * 24 * time.Hour
)

// CA is the relay's own certificate authority: it signs the relay's server
// certificates and the agents' client certificates.
type CA struct {
	cert *x509.Certificate
	key  crypto.Signer
}

// clockSkew is how far back certificates are dated, so that a site
// machine whose clock runs hours behind the relay's still accepts the
// relay's certificates (and the relay its own, issued a moment ago).
const clockSkew = 48 * time.Hour

// CertificateBackdating is how far before its issue the CA dates each
// certificate's NotBefore, so that a site clock behind the relay's by less
// than this still accepts it.
const CertificateBackdating = clockSkew

// IssuedLifetime returns how long a certificate of this CA was issued
// for: from its issue (NotBefore plus [CertificateBackdating]) to
// NotAfter. For a certificate dated otherwise it is NotAfter - NotBefore.
func IssuedLifetime(cert *x509.Certificate) time.Duration {
	d := cert.NotAfter.Sub(cert.NotBefore)
	if d > CertificateBackdating {
		return d - CertificateBackdating
	}
	return d
}

// NewCA creates a CA with a fresh ECDSA P-256 key, valid for ten years.
func NewCA(commonName string) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("transport: ca key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName, Organization: []string{"dicomgate"}},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("transport: ca certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("transport: ca certificate: %w", err)
	}
	return &CA{cert: cert, key: key}, nil
}

// LoadCA reads a CA written by Save from dir.
func LoadCA(dir string) (*CA, error) {
	certPEM, err := os.ReadFile(filepath.Join(dir, caCertFile))
	if err != nil {
		return nil, fmt.Errorf("transport: load ca: %w", err)
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, caKeyFile))
	if err != nil {
		return nil, fmt.Errorf("transport: load ca: %w", err)
	}
	cert, err := ParseCertificatePEM(certPEM)
	if err != nil {
		return nil, fmt.Errorf("transport: load ca: %w", err)
	}
	kb, _ := pem.Decode(keyPEM)
	if kb == nil || kb.Type != "PRIVATE KEY" {
		return nil, errors.New("transport: load ca: no private key pem block")
	}
	k, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("transport: load ca: %w", err)
	}
	key, ok := k.(crypto.Signer)
	if !ok || !publicKeysEqual(key.Public(), cert.PublicKey) {
		return nil, errors.New("transport: load ca: key does not match certificate")
	}
	return &CA{cert: cert, key: key}, nil
}

// Save writes ca.crt (0644) and ca.key (0600) to dir, creating it (0700) if
// needed. Each file is written atomically.
func (ca *CA) Save(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("transport: save ca: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(ca.key)
	if err != nil {
		return fmt.Errorf("transport: save ca: %w", err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	if err := writeFileAtomic(filepath.Join(dir, caKeyFile), keyPEM, 0o600); err != nil {
		return fmt.Errorf("transport: save ca: %w", err)
	}
	if err := writeFileAtomic(filepath.Join(dir, caCertFile), ca.CertificatePEM(), 0o644); err != nil {
		return fmt.Errorf("transport: save ca: %w", err)
	}
	return nil
}

// Certificate returns the CA certificate.
func (ca *CA) Certificate() *x509.Certificate { return ca.cert }

// CertificatePEM returns the CA certificate in PEM.
func (ca *CA) CertificatePEM() []byte { return EncodeCertificatePEM(ca.cert.Raw) }

// Pool returns a pool holding only the CA certificate.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// Fingerprint returns the lowercase hex SHA-256 of the CA certificate's DER.
func (ca *CA) Fingerprint() string { return Fingerprint(ca.cert) }

// Fingerprint returns the lowercase hex SHA-256 of a certificate's DER.
func Fingerprint(cert *x509.Certificate) string {
	s := sha256.Sum256(cert.Raw)
	return hex.EncodeToString(s[:])
}

// IssueServerCert issues a one-year TLS server certificate for hosts (DNS
// names and IP addresses, e.g. "localhost", "127.0.0.1", "::1") with a fresh
// ECDSA P-256 key. The chain holds the leaf and the CA certificate, so that
// enrolling agents can pin the CA by fingerprint.
func (ca *CA) IssueServerCert(hosts []string) (tls.Certificate, error) {
	if len(hosts) == 0 {
		return tls.Certificate{}, errors.New("transport: server certificate needs at least one host")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("transport: server key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return tls.Certificate{}, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: hosts[0], Organization: []string{"dicomgate"}},
		NotBefore:    now.Add(-clockSkew),
		NotAfter:     now.Add(serverValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("transport: server certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("transport: server certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der, ca.cert.Raw}, PrivateKey: key, Leaf: leaf}, nil
}

// IssueClientCert issues an agent certificate for pub (ECDSA P-256 or
// Ed25519) valid for validity from now (dated back 48 h, like every
// certificate of the CA). The agent ID goes in the CommonName and in a URI
// SAN "dicomgate:agent:<id>". It returns the certificate DER; see
// EncodeCertificatePEM.
func (ca *CA) IssueClientCert(pub crypto.PublicKey, agentID string, validity time.Duration) ([]byte, error) {
	if validity <= 0 {
		return nil, errors.New("transport: client certificate validity must be positive")
	}
	now := time.Now()
	return ca.IssueClientCertBetween(pub, agentID, now.Add(-clockSkew), now.Add(validity))
}

// IssueClientCertBetween is IssueClientCert with an explicit validity
// period (tests of expired and not yet valid certificates use it).
func (ca *CA) IssueClientCertBetween(pub crypto.PublicKey, agentID string, notBefore, notAfter time.Time) ([]byte, error) {
	if err := ValidateAgentID(agentID); err != nil {
		return nil, err
	}
	if err := checkAgentKey(pub); err != nil {
		return nil, err
	}
	if !notAfter.After(notBefore) {
		return nil, errors.New("transport: client certificate must end after it starts")
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: agentID, Organization: []string{"dicomgate agent"}},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		URIs:         []*url.URL{agentURI(agentID)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, pub, ca.key)
	if err != nil {
		return nil, fmt.Errorf("transport: client certificate: %w", err)
	}
	return der, nil
}

func randomSerial() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("transport: serial: %w", err)
	}
	return n.Add(n, big.NewInt(1)), nil
}

// EncodeCertificatePEM wraps a certificate DER in a PEM block.
func EncodeCertificatePEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// ParseCertificatePEM parses the first CERTIFICATE block of pemBytes.
func ParseCertificatePEM(pemBytes []byte) (*x509.Certificate, error) {
	for {
		var b *pem.Block
		b, pemBytes = pem.Decode(pemBytes)
		if b == nil {
			return nil, errors.New("transport: no certificate pem block")
		}
		if b.Type == "CERTIFICATE" {
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return nil, fmt.Errorf("transport: parse certificate: %w", err)
			}
			return c, nil
		}
	}
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	ae, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && ae.Equal(b)
}

// writeFileAtomic writes data to a temp file in the same directory, syncs it
// and renames it over name.
func writeFileAtomic(name string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after a successful rename
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, name)
}
