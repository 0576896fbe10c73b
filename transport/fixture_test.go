package transport

import (
	"cmp"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// writeRecord describes one finished Upload.Write call.
type writeRecord struct {
	id       string
	offset   int64
	received int64
	err      error
}

// stagingHandler is a small relay: it stages uploads in a temp dir, verifies
// size and hash, commits and signs receipts, and enrols agents with tokens.
type stagingHandler struct {
	dir  string
	priv ed25519.PrivateKey
	ca   *CA

	// progress, when set, is called with the bytes staged so far in a Write.
	progress func(id string, staged int64)
	// wireGuard, when set, registers the WireGuard key of an enrolling
	// agent and returns its grant.
	wireGuard func(key WireGuardKey) (*WireGuardGrant, error)

	// refuse, when set, is asked first by Write: a non-nil error is
	// returned as the handler's answer, nothing staged.
	refuse func(id string) error

	writes chan writeRecord // one record per finished Write (buffered)

	mu        sync.Mutex
	committed map[string]*Receipt
	tokens    map[[32]byte]time.Time // secret hash -> expiry
	enrols    int
	begins    int
}

func newStagingHandler(t testing.TB, ca *CA) *stagingHandler {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &stagingHandler{
		dir:       t.TempDir(),
		priv:      priv,
		ca:        ca,
		writes:    make(chan writeRecord, 1024),
		committed: map[string]*Receipt{},
		tokens:    map[[32]byte]time.Time{},
	}
}

func (h *stagingHandler) path(id string) string {
	s := sha256.Sum256([]byte(id))
	return filepath.Join(h.dir, hex.EncodeToString(s[:]))
}

func (h *stagingHandler) Enrol(ctx context.Context, req *EnrolRequest) (*EnrolResponse, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.enrols++
	key := HashEnrolmentSecret(req.Secret[:])
	exp, ok := h.tokens[key]
	if !ok || time.Now().After(exp) {
		return nil, &RejectedError{Code: CodeEnrolmentRefused, Message: "unknown or expired token"}
	}
	delete(h.tokens, key)
	id := "agent-" + req.Name
	der, err := h.ca.IssueClientCert(req.PublicKey, id, 24*time.Hour)
	if err != nil {
		return nil, err
	}
	resp := &EnrolResponse{AgentID: id, CertChain: [][]byte{der}, CACert: h.ca.Certificate().Raw}
	if !req.WireGuardKey.IsZero() {
		if h.wireGuard == nil {
			return nil, &RejectedError{Code: CodeEnrolmentRefused, Message: "no wireguard tunnel"}
		}
		if resp.WireGuard, err = h.wireGuard(req.WireGuardKey); err != nil {
			return nil, err
		}
	}
	return resp, nil
}

// Renew implements Renewer: a day-long certificate for the key, same agent.
func (h *stagingHandler) Renew(ctx context.Context, peer Peer, req *RenewRequest) (*RenewResponse, error) {
	der, err := h.ca.IssueClientCert(req.PublicKey, peer.AgentID, 24*time.Hour)
	if err != nil {
		return nil, err
	}
	return &RenewResponse{CertChain: [][]byte{der}}, nil
}

func (h *stagingHandler) Begin(ctx context.Context, peer Peer, offer *Offer) (Upload, *Receipt, error) {
	h.mu.Lock()
	h.begins++
	rec := h.committed[offer.ID]
	h.mu.Unlock()
	if rec != nil {
		return nil, rec, nil
	}
	up := &stagingUpload{h: h, offer: offer}
	fi, err := os.Stat(h.path(offer.ID))
	if errors.Is(err, os.ErrNotExist) {
		return up, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	up.have = min(fi.Size(), offer.Size)
	return up, nil, nil
}

// stagingUpload is an upload stagingHandler began.
type stagingUpload struct {
	h     *stagingHandler
	offer *Offer
	have  int64
}

func (u *stagingUpload) Offset() int64 { return u.have }

func (u *stagingUpload) Write(ctx context.Context, r io.Reader) (*Receipt, error) {
	return u.h.write(u.offer, u.have, r)
}

func (h *stagingHandler) write(offer *Offer, offset int64, r io.Reader) (rec *Receipt, err error) {
	var received int64
	defer func() {
		h.writes <- writeRecord{id: offer.ID, offset: offset, received: received, err: err}
	}()
	if h.refuse != nil {
		if err := h.refuse(offer.ID); err != nil {
			return nil, err
		}
	}
	f, err := os.OpenFile(h.path(offer.ID), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if err := f.Truncate(offset); err != nil {
		return nil, err
	}
	buf := make([]byte, 64<<10)
	for {
		n, rerr := r.Read(buf)
		if n > 0 {
			if _, err := f.WriteAt(buf[:n], offset+received); err != nil {
				return nil, err
			}
			received += int64(n)
			if h.progress != nil {
				h.progress(offer.ID, offset+received)
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return nil, rerr
		}
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	hs := sha256.New()
	size, err := io.Copy(hs, f)
	if err != nil {
		return nil, err
	}
	if size != offer.Size || [32]byte(hs.Sum(nil)) != offer.SHA256 {
		os.Remove(h.path(offer.ID))
		return nil, &RejectedError{Code: CodeHashMismatch, Message: "content does not match the offer"}
	}
	rec = &Receipt{ID: offer.ID, ObjectKey: "objects/" + offer.ID, Size: size, SHA256: offer.SHA256, CommittedAt: time.Now()}
	rec.Sign(h.priv)
	h.mu.Lock()
	h.committed[offer.ID] = rec
	h.mu.Unlock()
	return rec, nil
}

func (h *stagingHandler) stagedBytes(t testing.TB, id string) []byte {
	b, err := os.ReadFile(h.path(id))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// testEnv is a relay on 127.0.0.1 and an enrolled agent identity.
type testEnv struct {
	ca      *CA
	handler *stagingHandler
	server  *Server
	agent   tls.Certificate
}

// envOptions adjusts newEnv.
type envOptions struct {
	authorize   func(ctx context.Context, agentID string, cert *x509.Certificate) error
	disableQUIC bool
	progress    func(id string, staged int64)
	onRefused   func(ctx context.Context, r Refusal)
	onClock     func(ctx context.Context, peer Peer, agentTime, relayTime time.Time)
	// addr is the server's listen address; default 127.0.0.1:0.
	addr          string
	disableUDPGRO bool
}

func newEnv(t testing.TB, opt envOptions) *testEnv {
	t.Helper()
	ca, err := NewCA("test relay ca")
	if err != nil {
		t.Fatal(err)
	}
	srvCert, err := ca.IssueServerCert([]string{"localhost", "127.0.0.1", "127.0.0.2", "::1"})
	if err != nil {
		t.Fatal(err)
	}
	h := newStagingHandler(t, ca)
	h.progress = opt.progress
	cfg := ServerConfig{
		Addr:        cmp.Or(opt.addr, "127.0.0.1:0"),
		Certificate: srvCert,
		ClientCAs:   ca.Pool(),
		Handler:     h,
		DisableQUIC: opt.disableQUIC,
	}
	cfg.Authorize = opt.authorize
	cfg.DisableUDPGRO = opt.disableUDPGRO
	cfg.OnRefused, cfg.OnClock = opt.onRefused, opt.onClock
	srv, err := Listen(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Close(ctx)
	})
	return &testEnv{ca: ca, handler: h, server: srv, agent: agentCert(t, ca, "site-1")}
}

// agentCert issues a client certificate for a fresh ECDSA key.
func agentCert(t testing.TB, ca *CA, id string) tls.Certificate {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := ca.IssueClientCert(key.Public(), id, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func (e *testEnv) clientConfig(mode Mode) ClientConfig {
	return ClientConfig{
		Addr:        e.server.Addr().String(),
		Certificate: e.agent,
		RootCAs:     e.ca.Pool(),
		ReceiptKey:  e.handler.priv.Public().(ed25519.PublicKey),
		Mode:        mode,
	}
}

func (e *testEnv) dial(t testing.TB, mode Mode) *Conn {
	t.Helper()
	c, err := Dial(context.Background(), e.clientConfig(mode))
	if err != nil {
		t.Fatalf("dial %s: %v", mode, err)
	}
	t.Cleanup(func() { c.Close() })
	if mode != ModeAuto && c.Protocol() != Protocol(mode) {
		t.Fatalf("protocol = %s, want %s", c.Protocol(), mode)
	}
	return c
}

// testFile returns deterministic content and its offer.
func testFile(id string, size int) ([]byte, *Offer) {
	b := make([]byte, size)
	for i := range b {
		b[i] = byte(i*7 + i>>11)
	}
	return b, &Offer{ID: id, Size: int64(size), SHA256: sha256.Sum256(b), Manifest: []byte("signed-manifest:" + id)}
}

func listenPacketOn(addr string) (net.PacketConn, error) { return net.ListenPacket("udp", addr) }

func sha256Of(b []byte) [32]byte { return sha256.Sum256(b) }
