package transport

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
)

var modes = []Mode{ModeQUIC, ModeTCP}

func TestUploadRoundTrip(t *testing.T) {
	env := newEnv(t, envOptions{})
	for _, mode := range modes {
		c := env.dial(t, mode)
		for _, size := range []int{0, 1, DataChunkSize, 3*DataChunkSize + 17} {
			t.Run(fmt.Sprintf("%s/%d", mode, size), func(t *testing.T) {
				id := fmt.Sprintf("rt-%s-%d", mode, size)
				data, offer := testFile(id, size)
				rec, err := c.Upload(context.Background(), offer, bytes.NewReader(data))
				if err != nil {
					t.Fatalf("upload: %v", err)
				}
				if rec.ID != id || rec.Size != int64(size) || rec.SHA256 != offer.SHA256 {
					t.Fatalf("receipt %+v does not match offer", rec)
				}
				if err := rec.Verify(env.handler.priv.Public().(ed25519.PublicKey)); err != nil {
					t.Fatalf("receipt signature: %v", err)
				}
				if got := env.handler.stagedBytes(t, id); !bytes.Equal(got, data) {
					t.Fatalf("relay holds %d bytes that differ from the %d sent", len(got), len(data))
				}
			})
		}
	}
}

func TestFallbackToTCPWhenUDPIsNotServed(t *testing.T) {
	// A UDP socket on the relay port that never answers: QUIC times out.
	// The relay's TCP port may be taken on UDP by another process: then
	// try another relay.
	var env *testEnv
	var blackhole net.PacketConn
	for attempt := 0; ; attempt++ {
		env = newEnv(t, envOptions{disableQUIC: true})
		var err error
		if blackhole, err = listenPacketOn(env.server.Addr().String()); err == nil {
			break
		} else if attempt == 20 {
			t.Fatal(err)
		}
	}
	defer blackhole.Close()
	cfg := env.clientConfig(ModeAuto)
	cfg.QUICTimeout = 300e6 // 300 ms keeps the test short; the value is not asserted
	c, err := Dial(context.Background(), cfg)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.Close()
	if c.Protocol() != ProtocolTCP {
		t.Fatalf("protocol = %s, want tcp", c.Protocol())
	}
	data, offer := testFile("fallback", 100_000)
	if _, err := c.Upload(context.Background(), offer, bytes.NewReader(data)); err != nil {
		t.Fatalf("upload over fallback: %v", err)
	}
}

func TestAutoPrefersQUIC(t *testing.T) {
	env := newEnv(t, envOptions{})
	if c := env.dial(t, ModeAuto); c.Protocol() != ProtocolQUIC {
		t.Fatalf("protocol = %s, want quic", c.Protocol())
	}
}

// gatedReader serves data but blocks reads at or past gate until ctx ends.
type gatedReader struct {
	data []byte
	gate int64
	ctx  context.Context
}

func (g *gatedReader) ReadAt(p []byte, off int64) (int, error) {
	if off >= g.gate {
		<-g.ctx.Done()
		return 0, g.ctx.Err()
	}
	return bytes.NewReader(g.data).ReadAt(p, off)
}

func TestResumeAfterCut(t *testing.T) {
	const size, gate = 8*DataChunkSize + 123, 2 * DataChunkSize
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			reached := make(chan struct{})
			var once sync.Once
			env := newEnv(t, envOptions{progress: func(id string, staged int64) {
				if staged >= gate {
					once.Do(func() { close(reached) })
				}
			}})
			c := env.dial(t, mode)
			data, offer := testFile("resume", size)

			ctx, cancel := context.WithCancel(context.Background())
			errc := make(chan error, 1)
			go func() {
				_, err := c.Upload(ctx, offer, &gatedReader{data: data, gate: gate, ctx: ctx})
				errc <- err
			}()
			<-reached // the relay staged the first part; the client is stuck at the gate
			cancel()
			err := <-errc
			if !errors.Is(err, context.Canceled) || !Retryable(err) {
				t.Fatalf("cut upload: err = %v, want retryable context.Canceled", err)
			}
			first := <-env.handler.writes
			if first.err == nil || first.offset != 0 || first.received < gate || first.received >= size {
				t.Fatalf("first write = %+v, want an error after %d..%d bytes", first, gate, size)
			}

			rec, err := c.Upload(context.Background(), offer, bytes.NewReader(data))
			if err != nil {
				t.Fatalf("resumed upload: %v", err)
			}
			second := <-env.handler.writes
			if second.err != nil || second.offset != first.received || second.received != size-first.received {
				t.Fatalf("second write = %+v, want offset %d and the %d remaining bytes", second, first.received, size-first.received)
			}
			if rec.SHA256 != offer.SHA256 || !bytes.Equal(env.handler.stagedBytes(t, "resume"), data) {
				t.Fatal("resumed file differs from the original")
			}
		})
	}
}

func TestRevokedAgentRefusedAtHandshake(t *testing.T) {
	var mu sync.Mutex
	var asked []string
	env := newEnv(t, envOptions{authorize: func(ctx context.Context, id string, cert *x509.Certificate) error {
		mu.Lock()
		asked = append(asked, id)
		mu.Unlock()
		if id == "site-1" {
			return errors.New("revoked")
		}
		return nil
	}})
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			if _, err := Dial(context.Background(), env.clientConfig(mode)); err == nil {
				t.Fatal("revoked agent connected")
			}
			// Another agent of the same CA still gets in.
			cfg := env.clientConfig(mode)
			cfg.Certificate = agentCert(t, env.ca, "site-2")
			c, err := Dial(context.Background(), cfg)
			if err != nil {
				t.Fatalf("authorized agent: %v", err)
			}
			c.Close()
		})
	}
	env.handler.mu.Lock()
	defer env.handler.mu.Unlock()
	if env.handler.begins != 0 {
		t.Fatalf("handler saw %d offers", env.handler.begins)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(asked) < 4 || asked[0] != "site-1" {
		t.Fatalf("authorize asked for %v", asked)
	}
}

func TestUploadWithoutCertificateRefused(t *testing.T) {
	env := newEnv(t, envOptions{})
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			cfg := env.clientConfig(mode)
			cfg.Certificate.Certificate = nil
			c, err := Dial(context.Background(), cfg)
			if err != nil {
				t.Fatalf("dial without certificate: %v", err)
			}
			defer c.Close()
			data, offer := testFile("nocert", 10)
			_, err = c.Upload(context.Background(), offer, bytes.NewReader(data))
			var rej *RejectedError
			if !errors.As(err, &rej) || rej.Code != CodeUnauthenticated || Retryable(err) {
				t.Fatalf("err = %v, want permanent %s", err, CodeUnauthenticated)
			}
		})
	}
	env.handler.mu.Lock()
	defer env.handler.mu.Unlock()
	if env.handler.begins != 0 {
		t.Fatalf("handler saw %d offers", env.handler.begins)
	}
}

func TestAlreadyCommittedReturnsReceiptWithoutData(t *testing.T) {
	env := newEnv(t, envOptions{})
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			c := env.dial(t, mode)
			id := "again-" + string(mode)
			data, offer := testFile(id, 500_000)
			first, err := c.Upload(context.Background(), offer, bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			<-env.handler.writes
			// No body at all: reading it would fail the upload.
			second, err := c.Upload(context.Background(), offer, &gatedReader{gate: 0, ctx: canceledCtx()})
			if err != nil {
				t.Fatalf("re-upload: %v", err)
			}
			if !bytes.Equal(first.Signature, second.Signature) || !first.CommittedAt.Equal(second.CommittedAt) {
				t.Fatal("re-upload returned a different receipt")
			}
			select {
			case w := <-env.handler.writes:
				t.Fatalf("re-upload wrote data: %+v", w)
			default:
			}
		})
	}
}

func canceledCtx() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

func TestHashMismatchIsPermanent(t *testing.T) {
	env := newEnv(t, envOptions{})
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			c := env.dial(t, mode)
			data, offer := testFile("bad-"+string(mode), 70_000)
			offer.SHA256[0] ^= 1
			_, err := c.Upload(context.Background(), offer, bytes.NewReader(data))
			var rej *RejectedError
			if !errors.As(err, &rej) || rej.Code != CodeHashMismatch || Retryable(err) {
				t.Fatalf("err = %v, want permanent %s", err, CodeHashMismatch)
			}
			// The connection stays usable after a rejection.
			data, offer = testFile("good-"+string(mode), 70_000)
			if _, err := c.Upload(context.Background(), offer, bytes.NewReader(data)); err != nil {
				t.Fatalf("upload after rejection: %v", err)
			}
		})
	}
}

func TestOversizedFrameRefused(t *testing.T) {
	env := newEnv(t, envOptions{})
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			c := env.dial(t, mode)
			st, err := c.openStream(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			defer st.finish(false)
			if err := WriteFrame(st.bw, FrameHello, marshalHello()); err != nil {
				t.Fatal(err)
			}
			// Header only: type Offer, length MaxFrameSize+1.
			st.bw.Write([]byte{byte(FrameOffer), 0x00, 0x40, 0x00, 0x01})
			if err := st.bw.Flush(); err != nil {
				t.Fatal(err)
			}
			f, err := ReadFrame(st.br, MaxFrameSize)
			if err != nil {
				t.Fatalf("read answer: %v", err)
			}
			e, err := unmarshalError(f.Payload)
			if f.Type != FrameError || err != nil || e.Code != CodeFrameTooLarge {
				t.Fatalf("answer = %v %q, want error %s", f.Type, f.Payload, CodeFrameTooLarge)
			}
		})
	}
}

func TestConcurrentUploadsOnOneConnection(t *testing.T) {
	env := newEnv(t, envOptions{})
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			c := env.dial(t, mode)
			var wg sync.WaitGroup
			errs := make([]error, 8)
			for i := range errs {
				wg.Go(func() {
					id := fmt.Sprintf("par-%s-%d", mode, i)
					data, offer := testFile(id, 300_000+i*1000)
					_, errs[i] = c.Upload(context.Background(), offer, bytes.NewReader(data))
					if errs[i] == nil && !bytes.Equal(env.handler.stagedBytes(t, id), data) {
						errs[i] = errors.New("relay copy differs")
					}
				})
			}
			wg.Wait()
			if err := errors.Join(errs...); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestCloseRefusesNewConnections(t *testing.T) {
	env := newEnv(t, envOptions{})
	c := env.dial(t, ModeTCP)
	data, offer := testFile("before-close", 1000)
	if _, err := c.Upload(context.Background(), offer, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if err := env.server.Close(context.Background()); err != nil {
		t.Fatalf("close: %v", err)
	}
	for _, mode := range modes {
		cfg := env.clientConfig(mode)
		cfg.QUICTimeout = 300e6
		if c, err := Dial(context.Background(), cfg); err == nil {
			c.Close()
			t.Fatalf("%s dial succeeded after close", mode)
		}
	}
}

// failingReader fails every read past off.
type failingReader struct {
	data []byte
	off  int64
}

func (f failingReader) ReadAt(p []byte, off int64) (int, error) {
	if off >= f.off {
		return 0, errors.New("disk on fire")
	}
	return bytes.NewReader(f.data[:f.off]).ReadAt(p, off)
}

func TestLocalReadErrorAbortsUpload(t *testing.T) {
	env := newEnv(t, envOptions{})
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			c := env.dial(t, mode)
			data, offer := testFile("localerr-"+string(mode), 4*DataChunkSize)
			_, err := c.Upload(context.Background(), offer, failingReader{data: data, off: DataChunkSize})
			if err == nil || !Retryable(err) {
				t.Fatalf("err = %v, want a retryable local error", err)
			}
			if w := <-env.handler.writes; w.err == nil {
				t.Fatal("relay committed a partial upload")
			}
			// The connection still carries the next upload.
			if _, err := c.Upload(context.Background(), offer, bytes.NewReader(data)); err != nil {
				t.Fatalf("upload after local error: %v", err)
			}
			<-env.handler.writes
		})
	}
}

// TestStorageFullIsRetryable: a relay that refuses with
// RejectStorageFull (its disk is full) is told apart from other
// unavailability, retryable, and the connection stays usable.
func TestStorageFullIsRetryable(t *testing.T) {
	env := newEnv(t, envOptions{})
	env.handler.refuse = func(id string) error {
		switch {
		case strings.HasPrefix(id, "full-"):
			return RejectStorageFull()
		case strings.HasPrefix(id, "busy-"):
			return &RejectedError{Code: CodeUnavailable, Message: "busy"}
		}
		return nil
	}
	for _, mode := range modes {
		t.Run(string(mode), func(t *testing.T) {
			c := env.dial(t, mode)
			data, offer := testFile("full-"+string(mode), 70_000)
			_, err := c.Upload(context.Background(), offer, bytes.NewReader(data))
			if !errors.Is(err, ErrRelayStorageFull) || !errors.Is(err, ErrRelayUnavailable) || !Retryable(err) {
				t.Fatalf("err = %v, want a retryable storage-full error", err)
			}
			data, offer = testFile("busy-"+string(mode), 70_000)
			_, err = c.Upload(context.Background(), offer, bytes.NewReader(data))
			if !errors.Is(err, ErrRelayUnavailable) || errors.Is(err, ErrRelayStorageFull) {
				t.Fatalf("err = %v, want unavailable but not storage full", err)
			}
			data, offer = testFile("good-"+string(mode), 70_000)
			if _, err := c.Upload(context.Background(), offer, bytes.NewReader(data)); err != nil {
				t.Fatalf("upload after the refusals: %v", err)
			}
		})
	}
}
