package agent

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"dicomgate/seal"
	"dicomgate/transport"
)

// testRelay is a small relay on 127.0.0.1 (a fixture, not a mock): a real
// transport server whose Handler enrols agents with tokens, checks each
// manifest's signature with the key of the uploading agent's certificate,
// stages uploads in a temporary folder, verifies size and hash, commits and
// signs receipts.
type testRelay struct {
	t    *testing.T
	ca   *transport.CA
	priv ed25519.PrivateKey
	dir  string
	addr string // fixed after the first start, so restarts reuse it

	mu        sync.Mutex
	srv       *transport.Server
	tokens    map[[32]byte]bool
	committed map[string]*transport.Receipt
	manifests map[string]*seal.Manifest
	signed    map[string][]byte // the signed manifests as offered
	writes    int               // Write calls
	enrols    int
	offsets   []int64 // the offset of every Write call, in order
	// holdAt, when > 0, makes the next Write stage at most holdAt bytes,
	// close held and wait for the server to stop, as a cut connection.
	holdAt int64
	held   chan struct{}
	wgKeys []transport.WireGuardKey // WireGuard keys enrolled, in order
}

func newTestRelay(t *testing.T) *testRelay {
	t.Helper()
	ca, err := transport.NewCA("test relay ca")
	must(t, err)
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	must(t, err)
	r := &testRelay{t: t, ca: ca, priv: priv, dir: t.TempDir(), addr: "127.0.0.1:0",
		tokens: map[[32]byte]bool{}, committed: map[string]*transport.Receipt{}, manifests: map[string]*seal.Manifest{},
		signed: map[string][]byte{}}
	t.Cleanup(r.stop)
	return r
}

// start listens on the relay's address (a free port the first time).
func (r *testRelay) start() {
	r.t.Helper()
	cert, err := r.ca.IssueServerCert([]string{"localhost", "127.0.0.1"})
	must(r.t, err)
	srv, err := transport.Listen(context.Background(), transport.ServerConfig{
		Addr: r.addr, Certificate: cert, ClientCAs: r.ca.Pool(), Handler: r,
	})
	must(r.t, err)
	r.mu.Lock()
	r.srv, r.addr = srv, srv.Addr().String()
	r.mu.Unlock()
}

// stop closes the server, if running.
func (r *testRelay) stop() {
	r.mu.Lock()
	srv := r.srv
	r.srv = nil
	r.mu.Unlock()
	if srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Close(ctx)
	}
}

// token mints a single-use enrolment token.
func (r *testRelay) token() string {
	tok, hash, err := transport.NewEnrolmentToken(r.ca.Fingerprint())
	must(r.t, err)
	r.mu.Lock()
	r.tokens[hash] = true
	r.mu.Unlock()
	return tok
}

func (r *testRelay) receiptKey() ed25519.PublicKey { return r.priv.Public().(ed25519.PublicKey) }

func (r *testRelay) Enrol(ctx context.Context, req *transport.EnrolRequest) (*transport.EnrolResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.enrols++
	h := transport.HashEnrolmentSecret(req.Secret[:])
	if !r.tokens[h] {
		return nil, &transport.RejectedError{Code: transport.CodeEnrolmentRefused, Message: "unknown or used token"}
	}
	delete(r.tokens, h)
	id := "agent-" + req.Name
	der, err := r.ca.IssueClientCert(req.PublicKey, id, time.Hour)
	if err != nil {
		return nil, err
	}
	resp := &transport.EnrolResponse{AgentID: id, CertChain: [][]byte{der}, CACert: r.ca.Certificate().Raw}
	if !req.WireGuardKey.IsZero() {
		// The grant alone (this fixture runs no tunnel): the relay's key
		// and addresses as a relay would send them.
		r.wgKeys = append(r.wgKeys, req.WireGuardKey)
		resp.WireGuard = &transport.WireGuardGrant{RelayPublicKey: r.wgRelayKey(), Endpoint: ":51820",
			Address: netip.AddrFrom4([4]byte{10, 99, 0, byte(1 + len(r.wgKeys))}), RelayAddress: netip.MustParseAddrPort("10.99.0.1:7443")}
	}
	return resp, nil
}

// wireGuardKeys returns the WireGuard keys enrolled so far (the enrolment
// ran on a server goroutine: read under the lock).
func (r *testRelay) wireGuardKeys() []transport.WireGuardKey {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.wgKeys)
}

// wgRelayKey is the WireGuard public key the fixture grants name.
func (r *testRelay) wgRelayKey() transport.WireGuardKey { return transport.WireGuardKey{0x42, 1} }

func (r *testRelay) Begin(ctx context.Context, peer transport.Peer, offer *transport.Offer) (transport.Upload, *transport.Receipt, error) {
	pub, ok := peer.Certificate.PublicKey.(ed25519.PublicKey)
	if !ok {
		return nil, nil, &transport.RejectedError{Code: transport.CodeForbidden, Message: "agent key is not ed25519"}
	}
	m, err := seal.OpenManifest(offer.Manifest, seal.TrustKeys(pub))
	if err != nil || m.FileID != offer.ID || m.AgentID != peer.AgentID ||
		m.CiphertextSize != offer.Size || m.CiphertextSHA256 != hex.EncodeToString(offer.SHA256[:]) {
		return nil, nil, &transport.RejectedError{Code: transport.CodeForbidden, Message: "manifest does not verify"}
	}
	r.mu.Lock()
	rec := r.committed[offer.ID]
	r.mu.Unlock()
	if rec != nil {
		return nil, rec, nil
	}
	up := &testUpload{r: r, offer: offer}
	fi, err := os.Stat(r.path(offer.ID))
	if errors.Is(err, os.ErrNotExist) {
		return up, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	up.have = min(fi.Size(), offer.Size)
	return up, nil, nil
}

// testUpload is an upload testRelay began.
type testUpload struct {
	r     *testRelay
	offer *transport.Offer
	have  int64
}

func (u *testUpload) Offset() int64 { return u.have }

func (u *testUpload) Write(ctx context.Context, body io.Reader) (*transport.Receipt, error) {
	return u.r.write(ctx, u.offer, u.have, body)
}

func (r *testRelay) write(ctx context.Context, offer *transport.Offer, offset int64, body io.Reader) (*transport.Receipt, error) {
	r.mu.Lock()
	r.writes++
	r.offsets = append(r.offsets, offset)
	holdAt, held := r.holdAt, r.held
	r.holdAt = 0
	r.mu.Unlock()
	if holdAt > 0 {
		return nil, r.cut(ctx, offer, offset, holdAt, body, held)
	}
	f, err := os.OpenFile(r.path(offer.ID), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if err := f.Truncate(offset); err != nil {
		return nil, err
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return nil, err
	}
	if _, err := io.Copy(f, body); err != nil {
		return nil, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return nil, err
	}
	if n != offer.Size || !bytes.Equal(h.Sum(nil), offer.SHA256[:]) {
		os.Remove(r.path(offer.ID))
		return nil, &transport.RejectedError{Code: transport.CodeHashMismatch, Message: "content does not match the offer"}
	}
	m, err := seal.OpenManifest(offer.Manifest, func(ed25519.PublicKey) error { return nil })
	if err != nil {
		return nil, err
	}
	rec := &transport.Receipt{ID: offer.ID, ObjectKey: "objects/" + offer.ID, Size: n, SHA256: offer.SHA256, CommittedAt: time.Now()}
	rec.Sign(r.priv)
	r.mu.Lock()
	r.committed[offer.ID] = rec
	r.manifests[offer.ID] = m
	r.signed[offer.ID] = offer.Manifest
	r.mu.Unlock()
	return rec, nil
}

// cut stages body up to holdAt bytes at offset, signals held and blocks
// until ctx ends (the server stops): the agent sees its connection die.
func (r *testRelay) cut(ctx context.Context, offer *transport.Offer, offset, holdAt int64, body io.Reader, held chan struct{}) error {
	f, err := os.OpenFile(r.path(offer.ID), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return err
	}
	if _, err := io.CopyN(f, body, holdAt-offset); err != nil {
		return err
	}
	close(held)
	<-ctx.Done()
	return ctx.Err()
}

// writeOffsets returns the offset of every Write call so far.
func (r *testRelay) writeOffsets() []int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int64(nil), r.offsets...)
}

func (r *testRelay) path(id string) string {
	s := sha256.Sum256([]byte(id))
	return filepath.Join(r.dir, hex.EncodeToString(s[:]))
}

// stats returns the number of committed files and of Write calls.
func (r *testRelay) stats() (committed, writes int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.committed), r.writes
}

// object returns the committed sealed file with the given id.
// signedManifest returns the signed manifest file id was committed with.
func (r *testRelay) signedManifest(id string) []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.signed[id]
}

func (r *testRelay) object(id string) []byte {
	r.t.Helper()
	b, err := os.ReadFile(r.path(id))
	must(r.t, err)
	return b
}

var _ transport.Handler = (*testRelay)(nil)
