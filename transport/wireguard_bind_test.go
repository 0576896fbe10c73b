package transport

import (
	"bytes"
	"fmt"
	"testing"

	"golang.zx2c4.com/wireguard/conn"
)

// TestUDPBindBatches sends runs of equal-sized packets (coalesced into UDP
// GSO messages where the kernel offers it, each packet one iovec) and odd
// sizes between them over 127.0.0.1, and checks every packet arrives
// whole, in order, with its own size (split again by GRO or not).
func TestUDPBindBatches(t *testing.T) {
	const batch = 128
	open := func() (*udpBind, conn.ReceiveFunc) {
		b := newUDPBind("127.0.0.1:0", batch)
		fns, _, err := b.Open(0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return b, fns[0]
	}
	src, _ := open()
	dst, recv := open()
	ep, err := src.ParseEndpoint(dst.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	// Runs broken by shorter packets, and one run longer than a GSO
	// message may carry.
	var sizes []int
	for _, run := range []struct{ n, size int }{{4, 1392}, {1, 700}, {2, 1392}, {1, 60}, {1, 1200}, {maxGSOSegments + 6, 1392}, {1, 33}} {
		for range run.n {
			sizes = append(sizes, run.size)
		}
	}
	var sent [][]byte
	for i, size := range sizes {
		p := bytes.Repeat([]byte{byte(i)}, size)
		copy(p, fmt.Sprintf("packet %d", i))
		sent = append(sent, p)
	}
	if err := src.Send(sent, ep); err != nil {
		t.Fatalf("send: %v", err)
	}
	bufs := make([][]byte, batch)
	for i := range bufs {
		bufs[i] = make([]byte, 1<<16)
	}
	lens := make([]int, batch)
	eps := make([]conn.Endpoint, batch)
	var got [][]byte
	for len(got) < len(sent) {
		n, err := recv(bufs, lens, eps)
		if err != nil {
			t.Fatalf("receive: %v", err)
		}
		for i := range n {
			got = append(got, bytes.Clone(bufs[i][:lens[i]]))
		}
	}
	for i := range sent {
		if !bytes.Equal(got[i], sent[i]) {
			t.Fatalf("packet %d: got %d bytes starting %q, want %d bytes starting %q", i, len(got[i]), got[i][:9], len(sent[i]), sent[i][:9])
		}
	}
	t.Logf("gso %v, gro %v", src.gso, dst.gro)
}
