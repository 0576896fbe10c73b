package transport

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// groServer returns a groConn on addr, failing the test when the kernel
// does not take UDP_GRO.
func groServer(t *testing.T, network, addr string) *groConn {
	t.Helper()
	u, err := net.ListenPacket(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { u.Close() })
	g, ok := wrapGRO(u).(*groConn)
	if !ok {
		t.Fatalf("wrapGRO(%s %s) kept the plain socket", network, addr)
	}
	return g
}

// segmentingClient returns a UDP socket connected to to whose every send
// the kernel cuts into seg-byte datagrams (UDP_SEGMENT: GSO, as quic-go
// sends).
func segmentingClient(t *testing.T, to net.Addr, seg int) *net.UDPConn {
	t.Helper()
	c, err := net.DialUDP("udp", nil, to.(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	raw, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_UDP, unix.UDP_SEGMENT, seg)
	}); err != nil || serr != nil {
		t.Fatalf("UDP_SEGMENT: %v %v", err, serr)
	}
	return c
}

func readPacket(t *testing.T, g *groConn) ([]byte, net.Addr) {
	t.Helper()
	if err := g.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	n, from, err := g.ReadFrom(buf)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return buf[:n], from
}

// A GSO batch arrives as one coalesced datagram and is served back as the
// packets it was cut into, in order, each with its sender; a datagram
// sent alone is served as it is.
func TestGROConnSplitsCoalescedDatagrams(t *testing.T) {
	g := groServer(t, "udp4", "127.0.0.1:0")
	c := segmentingClient(t, g.LocalAddr(), 1200)
	var batch []byte
	var want [][]byte
	for i, size := range []int{1200, 1200, 1200, 700} {
		p := bytes.Repeat([]byte{byte('a' + i)}, size)
		batch = append(batch, p...)
		want = append(want, p)
	}
	if _, err := c.Write(batch); err != nil {
		t.Fatal(err)
	}
	for i, w := range want {
		got, from := readPacket(t, g)
		if !bytes.Equal(got, w) {
			t.Fatalf("packet %d: %d bytes of %q, want %d of %q", i, len(got), got[:1], len(w), w[:1])
		}
		if from.String() != c.LocalAddr().String() {
			t.Fatalf("packet %d from %s, want %s", i, from, c.LocalAddr())
		}
	}
	if g.coalesced.Load() == 0 {
		t.Fatal("the kernel delivered the GSO batch cut up: UDP_GRO not in effect")
	}
	if _, err := c.Write([]byte("alone")); err != nil {
		t.Fatal(err)
	}
	if got, _ := readPacket(t, g); string(got) != "alone" {
		t.Fatalf("single datagram read as %q", got)
	}
}

// On a socket bound to a wildcard address, a reply leaves from the local
// address the peer sent to: a peer whose socket is connected to 127.0.0.2
// drops anything from 127.0.0.1, where the kernel's route would send it
// from. The plain socket shows the difference.
func TestGROConnRepliesFromAddressSentTo(t *testing.T) {
	for _, tc := range []struct{ network, addr string }{
		{"udp4", "0.0.0.0:0"},
		{"udp", "[::]:0"}, // dual stack: 127.0.0.2 arrives v4-mapped
	} {
		t.Run(tc.addr, func(t *testing.T) {
			g := groServer(t, tc.network, tc.addr)
			port := g.LocalAddr().(*net.UDPAddr).Port
			c, err := net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2), Port: port})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			ask := func(wait time.Duration, reply func(p []byte, to net.Addr) error) (string, error) {
				if _, err := c.Write([]byte("ping")); err != nil {
					t.Fatal(err)
				}
				_, from := readPacket(t, g)
				if err := reply([]byte("pong"), from); err != nil {
					t.Fatal(err)
				}
				c.SetReadDeadline(time.Now().Add(wait))
				buf := make([]byte, 16)
				n, err := c.Read(buf)
				return string(buf[:n]), err
			}
			got, err := ask(5*time.Second, func(p []byte, to net.Addr) error { _, err := g.WriteTo(p, to); return err })
			if err != nil || got != "pong" {
				t.Fatalf("reply through groConn: %q, %v", got, err)
			}
			// The same reply sent without packet info never reaches the peer.
			_, err = ask(300*time.Millisecond, func(p []byte, to net.Addr) error { _, err := g.c.WriteTo(p, to); return err })
			if err == nil {
				t.Fatal("a reply without packet info reached the peer: the test shows nothing")
			}
		})
	}
}

// QUIC uploads go through with coalesced reads on a specific address and
// on a wildcard one (agent dialling 127.0.0.2 and ::1), and with coalesced
// reads off. On the dual-stack socket "0.0.0.0:0" opens, an IPv4 packet
// comes with both IP_PKTINFO and IPV6_PKTINFO (v4-mapped): answered with
// the IPv6 one, the reply left from the wrong address (x/net marshals no
// v4-mapped source) and the upload stalled.
func TestUploadQUICSocketModes(t *testing.T) {
	for _, tc := range []struct {
		name, listen, dial string
		disable            bool
	}{
		{"specific", "127.0.0.1:0", "127.0.0.1", false},
		{"wildcard4", "0.0.0.0:0", "127.0.0.2", false},
		{"wildcard6", "[::]:0", "::1", false},
		{"nogro", "127.0.0.1:0", "127.0.0.1", true},
		{"wildcard4-nogro", "0.0.0.0:0", "127.0.0.2", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := newEnv(t, envOptions{addr: tc.listen, disableUDPGRO: tc.disable})
			cfg := env.clientConfig(ModeQUIC)
			cfg.Addr = net.JoinHostPort(tc.dial, fmt.Sprint(env.server.Addr().(*net.TCPAddr).Port))
			c, err := Dial(context.Background(), cfg)
			if err != nil {
				t.Fatalf("dial %s: %v", cfg.Addr, err)
			}
			defer c.Close()
			id := "gro-" + tc.name
			data, offer := testFile(id, 3*DataChunkSize+17)
			rec, err := c.Upload(context.Background(), offer, bytes.NewReader(data))
			if err != nil {
				t.Fatalf("upload: %v", err)
			}
			if rec.SHA256 != offer.SHA256 {
				t.Fatal("receipt does not match the offer")
			}
			if got := env.handler.stagedBytes(t, id); !bytes.Equal(got, data) {
				t.Fatalf("relay holds %d bytes that differ from the %d sent", len(got), len(data))
			}
			_, wrapped := env.server.tr.Conn.(*groConn)
			if wrapped == tc.disable {
				t.Fatalf("QUIC socket coalesced reads %v, want %v", wrapped, !tc.disable)
			}
		})
	}
}
