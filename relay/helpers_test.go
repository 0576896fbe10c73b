package relay

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"dicomgate/seal"
	"dicomgate/store"
	"dicomgate/transport"
)

const (
	testProject = "trial-1"
	testSite    = "site-a"
	// testMarker is in every test plaintext; it must never reach the relay.
	testMarker = "PLAINTEXT-MARKER-7f3a"
)

var (
	testPolicyHash  = strings.Repeat("ab", 32)
	otherPolicyHash = strings.Repeat("cd", 32)
)

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// env is a running relay with a core lab and its reader token.
type env struct {
	srv     *Server
	cfg     Config
	lab     *seal.Identity
	token   string // reader token of "core-lab" (project trial-1)
	other   string // reader token of "other-lab" (project other only)
	logs    *syncBuffer
	caPin   string
	apiURL  string
	receipt ed25519.PublicKey
	stop    func() // stops the relay (also at cleanup)
}

type envOptions struct {
	store    StoreConfig
	onStaged func(fileID string, staged int64)
	clock    func() time.Time // WithClock; nil: time.Now
	dataDir  string           // default: a new temporary folder
	config   func(*Config)    // adjusts the configuration last
}

// startRelay runs a relay on 127.0.0.1 (ports chosen by the kernel) with a
// temporary data directory, stopped when the test ends.
func startRelay(t *testing.T, o envOptions) *env {
	t.Helper()
	lab, err := seal.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	token, hash, err := NewReaderToken()
	if err != nil {
		t.Fatal(err)
	}
	other, otherHash, err := NewReaderToken()
	if err != nil {
		t.Fatal(err)
	}
	if o.dataDir == "" {
		o.dataDir = t.TempDir()
	}
	cfg := Config{
		Listen:    "127.0.0.1:0",
		APIListen: "127.0.0.1:0",
		DataDir:   o.dataDir,
		Store:     o.store,
		Projects: []ProjectConfig{
			{ID: testProject, Recipients: []string{lab.Recipient().String()}, PolicyHashes: []string{testPolicyHash}},
			{ID: "other"},
		},
		Readers: []ReaderConfig{
			{Name: "core-lab", TokenHash: hash, Projects: []string{testProject}},
			{Name: "other-lab", TokenHash: otherHash, Projects: []string{"other"}},
		},
		ShutdownTimeout: 5 * time.Second,
	}
	if o.config != nil {
		o.config(&cfg)
	}
	logs := &syncBuffer{}
	var opts []Option
	if o.clock != nil {
		opts = append(opts, WithClock(o.clock))
	}
	srv, err := New(cfg, zerolog.New(logs).Level(zerolog.DebugLevel), opts...)
	if err != nil {
		t.Fatal(err)
	}
	srv.onStaged = o.onStaged
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	select {
	case <-srv.Ready():
	case err := <-done:
		cancel()
		t.Fatalf("relay did not start: %v", err)
	}
	var stopOnce sync.Once
	stop := func() {
		stopOnce.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("relay run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	pin, err := srv.CAFingerprint()
	if err != nil {
		t.Fatal(err)
	}
	rk, err := srv.ReceiptKey()
	if err != nil {
		t.Fatal(err)
	}
	return &env{
		srv: srv, cfg: srv.cfg, lab: lab, token: token, other: other, logs: logs,
		caPin: pin, apiURL: "https://" + srv.APIAddr().String(), receipt: rk, stop: stop,
	}
}

// client returns an API client with the given bearer token.
func (e *env) client(token string) *Client {
	return &Client{BaseURL: e.apiURL, Token: token, CAFingerprint: e.caPin}
}

// testAgent is an enrolled agent.
type testAgent struct {
	id   string
	key  ed25519.PrivateKey
	cfg  transport.ClientConfig
	conn *transport.Conn
}

// enrol enrols a new agent for project and site and dials the relay.
func (e *env) enrol(t *testing.T, project, site string, mode transport.Mode) *testAgent {
	t.Helper()
	ctx := context.Background()
	tok, err := e.srv.CreateEnrolmentToken(ctx, project, site)
	if err != nil {
		t.Fatal(err)
	}
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := transport.Enrol(ctx, e.srv.Addr().String(), tok, key, "test")
	if err != nil {
		t.Fatalf("enrol: %v", err)
	}
	pool, err := resp.CAPool()
	if err != nil {
		t.Fatal(err)
	}
	a := &testAgent{id: resp.AgentID, key: key, cfg: transport.ClientConfig{
		Addr:        e.srv.Addr().String(),
		Certificate: resp.TLSCertificate(key),
		RootCAs:     pool,
		ReceiptKey:  e.receipt,
		Mode:        mode,
	}}
	a.conn, err = transport.Dial(ctx, a.cfg)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { a.conn.Close() })
	return a
}

// testFile is a sealed file ready to upload.
type testFile struct {
	plain    []byte
	sealed   []byte
	manifest *seal.Manifest
	offer    *transport.Offer
}

// fileSpec describes a test file; zero fields get defaults.
type fileSpec struct {
	id, study, series, sop string
	size                   int
	policyHash             string
	project, site          string
	signer                 ed25519.PrivateKey // default: the agent's key
	recipients             []*seal.Recipient  // default: the env's core lab
	plain                  []byte             // default: plaintext(size)
}

// plaintext returns a DICOM-like test file: preamble, "DICM" at 128, the
// marker, then random bytes.
func plaintext(t *testing.T, size int) []byte {
	b := make([]byte, max(size, 256))
	if _, err := rand.Read(b[132:]); err != nil {
		t.Fatal(err)
	}
	clear(b[:128])
	copy(b[128:], "DICM")
	copy(b[140:], testMarker)
	return b
}

// seal seals a file as the agent would, signed by a (or spec.signer).
func (e *env) seal(t *testing.T, a *testAgent, s fileSpec) *testFile {
	t.Helper()
	def := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	def(&s.study, "1.2.826.0.1.3680043.10.1")
	def(&s.series, s.study+".1")
	def(&s.sop, s.series+".1")
	def(&s.id, "f-"+strings.ReplaceAll(s.sop, ".", "-"))
	def(&s.policyHash, testPolicyHash)
	def(&s.project, testProject)
	def(&s.site, testSite)
	if s.size == 0 {
		s.size = 5000
	}
	if s.signer == nil {
		s.signer = a.key
	}
	if s.recipients == nil {
		s.recipients = []*seal.Recipient{e.lab.Recipient()}
	}
	plain := s.plain
	if plain == nil {
		plain = plaintext(t, s.size)
	}
	var buf bytes.Buffer
	w, err := seal.NewWriter(&buf, s.recipients, seal.WithChunkSize(4096))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(plain); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	m := &seal.Manifest{
		FileID: s.id, Project: s.project, Site: s.site, AgentID: a.id,
		PolicyID: "trial", PolicyVersion: "1", PolicyHash: s.policyHash,
		StudyInstanceUID: s.study, SeriesInstanceUID: s.series, SOPInstanceUID: s.sop,
		SOPClassUID: "1.2.840.10008.5.1.4.1.1.2", Modality: "CT", TransferSyntaxUID: "1.2.840.10008.1.2.1",
		Created: time.Now(),
	}
	m.SetStats(w.Stats())
	env, err := seal.SignManifest(s.signer, m)
	if err != nil {
		t.Fatal(err)
	}
	sealed := buf.Bytes()
	return &testFile{
		plain: plain, sealed: sealed, manifest: m,
		offer: &transport.Offer{ID: s.id, Size: int64(len(sealed)), SHA256: sha256.Sum256(sealed), Manifest: env},
	}
}

// upload uploads f with a's connection.
func (a *testAgent) upload(ctx context.Context, f *testFile) (*transport.Receipt, error) {
	return a.conn.Upload(ctx, f.offer, bytes.NewReader(f.sealed))
}

// wantRejected fails unless err is a *transport.RejectedError with code.
func wantRejected(t *testing.T, err error, code string) {
	t.Helper()
	var rej *transport.RejectedError
	if !errors.As(err, &rej) || rej.Code != code {
		t.Fatalf("err = %v, want rejection %q", err, code)
	}
}

// checkNoPlaintext fails if any byte string holds the test marker or
// "DICM" at offset 128.
func checkNoPlaintext(t *testing.T, what string, b []byte) {
	t.Helper()
	if bytes.Contains(b, []byte(testMarker)) {
		t.Errorf("%s contains the plaintext marker", what)
	}
	if len(b) >= 132 && string(b[128:132]) == "DICM" {
		t.Errorf("%s has DICM at offset 128", what)
	}
}

// checkDirNoPlaintext scans every file under dir.
func checkDirNoPlaintext(t *testing.T, dir string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		checkNoPlaintext(t, "data_dir/"+rel, b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// checkStoreNoPlaintext scans every object of a store.
func checkStoreNoPlaintext(t *testing.T, s store.ObjectStore) {
	t.Helper()
	ctx := context.Background()
	n := 0
	err := s.List(ctx, "", func(oi store.ObjectInfo) error {
		rc, err := s.Get(ctx, oi.Key, 0)
		if err != nil {
			return err
		}
		defer rc.Close()
		b, err := io.ReadAll(rc)
		if err != nil {
			return err
		}
		n++
		checkNoPlaintext(t, "object "+oi.Key, b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Error("store is empty")
	}
}

// dcmFiles lists the regular files under dir, relative, skipping nothing.
func dcmFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	return out
}
