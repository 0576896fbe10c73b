package transport

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestCASaveLoad(t *testing.T) {
	ca, err := NewCA("relay ca")
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "ca")
	if err := ca.Save(dir); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, "ca.key"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, %v", fi.Mode(), err)
	}
	loaded, err := LoadCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	if loaded.Fingerprint() != ca.Fingerprint() || len(ca.Fingerprint()) != 64 {
		t.Fatal("fingerprint changed across save/load")
	}
	// The loaded key still signs certificates the original CA verifies.
	_, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	der, err := loaded.IssueClientCert(edPriv.Public(), "site-9", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatalf("client cert does not verify: %v", err)
	}
	if id, err := AgentIDFromCert(leaf); err != nil || id != "site-9" || leaf.URIs[0].String() != "dicomgate:agent:site-9" {
		t.Fatalf("agent id %q %v", id, err)
	}

	other, _ := NewCA("other")
	other.Save(filepath.Join(t.TempDir(), "o"))
	otherKey, _ := os.ReadFile(filepath.Join(dir, "ca.key"))
	mixed := t.TempDir()
	os.WriteFile(filepath.Join(mixed, "ca.crt"), other.CertificatePEM(), 0o644)
	os.WriteFile(filepath.Join(mixed, "ca.key"), otherKey, 0o600)
	if _, err := LoadCA(mixed); err == nil {
		t.Fatal("LoadCA accepted a key that does not match the certificate")
	}
	if _, err := LoadCA(t.TempDir()); err == nil {
		t.Fatal("LoadCA accepted an empty dir")
	}
}

func TestIssueCerts(t *testing.T) {
	ca, _ := NewCA("relay ca")
	srv, err := ca.IssueServerCert([]string{"localhost", "127.0.0.1", "::1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{"localhost", "127.0.0.1", "::1"} {
		if _, err := srv.Leaf.Verify(x509.VerifyOptions{DNSName: host, Roots: ca.Pool()}); err != nil {
			t.Errorf("server cert for %s: %v", host, err)
		}
	}
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 1024)
	tests := []struct {
		name string
		pub  any
		id   string
		ok   bool
	}{
		{"ecdsa", ecKey.Public(), "site-1", true},
		{"p384 refused", p384.Public(), "site-1", false},
		{"rsa refused", rsaKey.Public(), "site-1", false},
		{"empty id", ecKey.Public(), "", false},
		{"id with slash", ecKey.Public(), "a/b", false},
		{"id with space", ecKey.Public(), "a b", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ca.IssueClientCert(tc.pub, tc.id, time.Hour)
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
		})
	}
	// A server certificate is no agent certificate.
	if _, err := AgentIDFromCert(srv.Leaf); err == nil {
		t.Fatal("server certificate accepted as agent")
	}
}

// TestCertificatesTolerateSlowClocks: a site clock 47 hours behind the
// relay still accepts the relay's server certificate and its CA.
func TestCertificatesTolerateSlowClocks(t *testing.T) {
	ca, err := NewCA("skew test")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.IssueServerCert([]string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, skew := range []time.Duration{-47 * time.Hour, 0, 300 * 24 * time.Hour} {
		_, err := leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), CurrentTime: time.Now().Add(skew), DNSName: "127.0.0.1"})
		if err != nil {
			t.Errorf("site clock %v from the relay's: %v", skew, err)
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), CurrentTime: time.Now().Add(-72 * time.Hour)}); err == nil {
		t.Error("a clock 72 h behind should not verify: the window is meant to be bounded")
	}
}
