package transport

import (
	"bytes"
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// udpProxy forwards one client's datagrams to a server and back until
// silenced: then both directions are dropped, as when the client's
// machine dies without closing anything.
type udpProxy struct {
	front  *net.UDPConn // the client's side
	back   *net.UDPConn // connected to the server
	client atomic.Pointer[net.UDPAddr]
	silent atomic.Bool
}

func newUDPProxy(t *testing.T, server net.Addr) *udpProxy {
	t.Helper()
	front, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	sa := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: server.(*net.TCPAddr).Port}
	back, err := net.DialUDP("udp", nil, sa)
	if err != nil {
		t.Fatal(err)
	}
	p := &udpProxy{front: front, back: back}
	t.Cleanup(func() { front.Close(); back.Close() })
	go func() {
		buf := make([]byte, 65536)
		for {
			n, from, err := front.ReadFromUDP(buf)
			if err != nil {
				return
			}
			p.client.Store(from)
			if !p.silent.Load() {
				back.Write(buf[:n])
			}
		}
	}()
	go func() {
		buf := make([]byte, 65536)
		for {
			n, err := back.Read(buf)
			if err != nil {
				return
			}
			if c := p.client.Load(); c != nil && !p.silent.Load() {
				front.WriteToUDP(buf[:n], c)
			}
		}
	}()
	return p
}

// An agent that dies mid-upload and connects again (a restart) gets its
// file at once: the relay closes the dead connection when the new one
// arrives instead of holding the cut upload until the idle timeout, and
// the new upload resumes from what the dead one delivered.
func TestNewConnectionSupersedesDeadOne(t *testing.T) {
	const size, stallAt = 4 << 20, 1 << 20
	reached := make(chan struct{})
	var once atomic.Bool
	env := newEnv(t, envOptions{progress: func(id string, staged int64) {
		if id == "stall" && staged >= stallAt && once.CompareAndSwap(false, true) {
			close(reached)
		}
	}})
	proxy := newUDPProxy(t, env.server.Addr())
	cfg := env.clientConfig(ModeQUIC)
	cfg.Addr = proxy.front.LocalAddr().String()
	dead, err := Dial(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer dead.Close()
	data, offer := testFile("stall", size)
	stalled, stop := context.WithCancel(t.Context())
	defer stop()
	go dead.Upload(stalled, offer, &gatedReader{data: data, gate: stallAt, ctx: stalled})
	select {
	case <-reached:
	case <-time.After(30 * time.Second):
		t.Fatal("the first MiB never reached the relay")
	}
	proxy.silent.Store(true) // the agent's machine dies

	fresh := env.dial(t, ModeQUIC) // same agent certificate: the agent restarted
	select {
	case rec := <-env.handler.writes:
		if rec.id != "stall" || rec.err == nil || rec.received < stallAt {
			t.Fatalf("cut upload ended as %+v", rec)
		}
	case <-time.After(20 * time.Second): // the idle timeout is 60 s
		t.Fatal("the dead connection still holds its upload")
	}
	rcpt, err := fresh.Upload(t.Context(), offer, bytes.NewReader(data))
	if err != nil {
		t.Fatalf("upload on the new connection: %v", err)
	}
	if rcpt.SHA256 != offer.SHA256 {
		t.Fatal("receipt does not match the offer")
	}
	rec := <-env.handler.writes
	if rec.offset < stallAt || rec.received != size-rec.offset {
		t.Fatalf("new upload sent %d bytes from offset %d, want a resume from at least %d", rec.received, rec.offset, stallAt)
	}
	if got := env.handler.stagedBytes(t, "stall"); !bytes.Equal(got, data) {
		t.Fatal("relay holds other bytes than those sent")
	}

	// A connection with another certificate of the agent (a renewal) does
	// not close this one: its uploads go on.
	renewed := env.clientConfig(ModeQUIC)
	renewed.Certificate = agentCert(t, env.ca, "site-1")
	other, err := Dial(t.Context(), renewed)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	small, smallOffer := testFile("after-renewal", 1<<10)
	if _, err := fresh.Upload(t.Context(), smallOffer, bytes.NewReader(small)); err != nil {
		t.Fatalf("upload on the connection of the earlier certificate: %v", err)
	}
}
