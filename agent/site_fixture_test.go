package agent

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"dicomgate/anonymize"
	"dicomgate/internal/dicomtest"
	"dicomgate/policy"
	"dicomgate/seal"
)

// testSite is an agent configuration in a temporary folder, a core lab
// identity it seals to and the site secret.
type testSite struct {
	dir    string
	cfg    *Config
	lab    *seal.Identity
	secret []byte
	pol    *policy.Policy
}

func newTestSite(t *testing.T, relayAddr string) *testSite {
	t.Helper()
	dir := t.TempDir()
	lab, err := seal.GenerateIdentity()
	must(t, err)
	cfg := &Config{
		Site: "site-1", Project: "trial-x",
		Relay:       RelayConfig{Address: relayAddr, Mode: "auto"},
		IdentityDir: filepath.Join(dir, "identity"), SecretFile: filepath.Join(dir, "identity", "site.secret"),
		Recipients: []string{lab.Recipient().String()},
		SpoolDir:   filepath.Join(dir, "spool"), QuarantineDir: filepath.Join(dir, "quarantine"),
		QueueDB: filepath.Join(dir, "queue.db"), Workers: 2, UploadsInFlight: 4,
		Retry: RetryConfig{Min: 20 * time.Millisecond, Max: 200 * time.Millisecond},
	}
	cfg.SetDefaults()
	must(t, cfg.Validate())
	secret, _, err := policy.LoadOrCreateSecret(cfg.SecretFile)
	must(t, err)
	pol, err := loadPolicy("")
	must(t, err)
	return &testSite{dir: dir, cfg: cfg, lab: lab, secret: secret, pol: pol}
}

// reference anonymises data as `dicomgate anonymize` does with the site's
// policy and secret.
func (s *testSite) reference(t *testing.T, data []byte) ([]byte, *anonymize.Report, error) {
	t.Helper()
	prof, err := s.pol.Compile(s.secret)
	must(t, err)
	a, err := anonymize.New(prof)
	must(t, err)
	var out bytes.Buffer
	rep, err := a.Anonymize(t.Context(), bytes.NewReader(data), &out)
	return out.Bytes(), rep, err
}

// open decrypts a sealed file with the core lab identity.
func (s *testSite) open(t *testing.T, sealed []byte) []byte {
	t.Helper()
	r, err := seal.NewReader(bytes.NewReader(sealed), s.lab)
	must(t, err)
	var out bytes.Buffer
	if _, err := out.ReadFrom(r); err != nil {
		t.Fatalf("decrypt: %v", err)
	}
	return out.Bytes()
}

// corpus writes a generated corpus into a new folder and returns it with
// its answer key.
func corpus(t *testing.T, seed uint64, opts dicomtest.CorpusOptions) (string, *dicomtest.Key) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "corpus")
	key, err := dicomtest.WriteCorpus(dir, seed, opts)
	must(t, err)
	os.Remove(filepath.Join(dir, dicomtest.KeyFile))
	return dir, key
}

// searchable keeps planted values long enough for a byte search.
func searchable(p dicomtest.Planted) bool {
	// Dates and numbers are judged by value elsewhere: a shifted date of one
	// patient can equal a planted date of another, and a planted number can
	// occur inside a keyed UID by chance.
	return p.Searchable && p.Class != dicomtest.ClassDate && p.Class != dicomtest.ClassTime &&
		strings.Trim(p.Value, "0123456789.+- ") != ""
}
