package transport

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"syscall"

	"golang.zx2c4.com/wireguard/tun"
	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/channel"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"
)

// nicID is the one NIC of a tunnel's network stack.
const nicID = 1

// netstackTUN is a tun.Device whose other side is a gVisor network stack in
// this process: the tunnel's addresses exist only there, never on the host.
//
// Unlike wireguard-go's tun/netstack, Read hands the device every packet the
// stack has queued (up to the device's batch size) instead of one packet per
// call through an unbuffered channel, so the device encrypts and sends in
// batches (one sendmmsg, or one GSO write, per batch).
type netstackTUN struct {
	ep     *channel.Endpoint
	stack  *stack.Stack
	events chan tun.Event
	mtu    int
	batch  int
	ctx    context.Context // done once Close runs
	cancel context.CancelFunc
}

var _ tun.Device = (*netstackTUN)(nil)

// newNetstackTUN creates the stack with addr as its only address.
// queueLen bounds the outbound packets waiting for the device.
func newNetstackTUN(addr netip.Addr, mtu, batch, queueLen int) (*netstackTUN, error) {
	st := stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol, ipv6.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol, udp.NewProtocol},
		HandleLocal:        true,
	})
	ctx, cancel := context.WithCancel(context.Background())
	t := &netstackTUN{
		ep:     channel.New(queueLen, uint32(mtu), ""),
		stack:  st,
		events: make(chan tun.Event, 1),
		mtu:    mtu,
		batch:  batch,
		ctx:    ctx,
		cancel: cancel,
	}
	fail := func(what string, err tcpip.Error) (*netstackTUN, error) {
		t.Close()
		return nil, fmt.Errorf("transport: tunnel stack: %s: %s", what, err)
	}
	sack := tcpip.TCPSACKEnabled(true)
	if err := st.SetTransportProtocolOption(tcp.ProtocolNumber, &sack); err != nil {
		return fail("sack", err)
	}
	// Room for the TCP fallback to fill a fast path.
	rcv := tcpip.TCPReceiveBufferSizeRangeOption{Min: 4 << 10, Default: 1 << 20, Max: 8 << 20}
	if err := st.SetTransportProtocolOption(tcp.ProtocolNumber, &rcv); err != nil {
		return fail("tcp receive buffer", err)
	}
	snd := tcpip.TCPSendBufferSizeRangeOption{Min: 4 << 10, Default: 1 << 20, Max: 8 << 20}
	if err := st.SetTransportProtocolOption(tcp.ProtocolNumber, &snd); err != nil {
		return fail("tcp send buffer", err)
	}
	if err := st.CreateNIC(nicID, checksumOffload{t.ep}); err != nil {
		return fail("nic", err)
	}
	proto := ipv4.ProtocolNumber
	route := header.IPv4EmptySubnet
	if addr.Is6() {
		proto, route = ipv6.ProtocolNumber, header.IPv6EmptySubnet
	}
	pa := tcpip.ProtocolAddress{Protocol: proto, AddressWithPrefix: tcpip.AddrFromSlice(addr.AsSlice()).WithPrefix()}
	if err := st.AddProtocolAddress(nicID, pa, stack.AddressProperties{}); err != nil {
		return fail("address", err)
	}
	st.AddRoute(tcpip.Route{Destination: route, NIC: nicID})
	t.events <- tun.EventUp
	return t, nil
}

// Read implements tun.Device: it waits for one packet from the stack, then
// takes whatever else is queued, up to len(bufs).
func (t *netstackTUN) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	pkt := t.ep.ReadContext(t.ctx)
	if pkt == nil {
		return 0, os.ErrClosed
	}
	n := 0
	for pkt != nil {
		dst := bufs[n][offset:]
		size := 0
		if pkt.Size() <= len(dst) {
			for _, s := range pkt.AsSlices() {
				size += copy(dst[size:], s)
			}
		}
		pkt.DecRef()
		if size > 0 {
			sizes[n] = size
			n++
		}
		if n == len(bufs) {
			break
		}
		pkt = t.ep.Read()
	}
	return n, nil
}

// Write implements tun.Device: it hands decrypted packets to the stack.
func (t *netstackTUN) Write(bufs [][]byte, offset int) (int, error) {
	for _, b := range bufs {
		p := b[offset:]
		if len(p) == 0 {
			continue
		}
		var proto tcpip.NetworkProtocolNumber
		switch p[0] >> 4 {
		case 4:
			proto = header.IPv4ProtocolNumber
		case 6:
			proto = header.IPv6ProtocolNumber
		default:
			return 0, syscall.EAFNOSUPPORT
		}
		pkb := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithData(p)})
		t.ep.InjectInbound(proto, pkb)
		pkb.DecRef()
	}
	return len(bufs), nil
}

// File implements tun.Device; there is no file.
func (t *netstackTUN) File() *os.File { return nil }

// MTU implements tun.Device.
func (t *netstackTUN) MTU() (int, error) { return t.mtu, nil }

// Name implements tun.Device.
func (t *netstackTUN) Name() (string, error) { return "netstack", nil }

// Events implements tun.Device.
func (t *netstackTUN) Events() <-chan tun.Event { return t.events }

// BatchSize implements tun.Device.
func (t *netstackTUN) BatchSize() int { return t.batch }

// Close implements tun.Device. The device calls it once.
func (t *netstackTUN) Close() error {
	t.cancel()
	t.stack.RemoveNIC(nicID)
	t.stack.Close()
	t.ep.Close()
	close(t.events)
	return nil
}

// checksumOffload tells the stack not to compute or verify TCP and UDP
// checksums: every packet through the tunnel is authenticated by WireGuard
// (Poly1305), so they would only cost time.
type checksumOffload struct{ *channel.Endpoint }

// Capabilities implements stack.LinkEndpoint.
func (e checksumOffload) Capabilities() stack.LinkEndpointCapabilities {
	return e.Endpoint.Capabilities() | stack.CapabilityTXChecksumOffload | stack.CapabilityRXChecksumOffload
}
