package transport

import (
	"errors"
	"net"
	"unsafe"

	"golang.org/x/sys/unix"
)

// UDP segmentation offload limits (see udp(7)).
const (
	maxGSOSegments = 64
	maxGSOPayload  = 1<<16 - 1 - 40 - 8 // IPv6 header, UDP header
)

// offloadControlSize is the room for one UDP_SEGMENT or UDP_GRO message.
var offloadControlSize = unix.CmsgSpace(2)

// enableOffload reports whether GSO (UDP_SEGMENT) is available on c and, when
// wantGRO, turns on UDP GRO and reports whether that worked.
func enableOffload(c *net.UDPConn, wantGRO bool) (gso, gro bool) {
	rc, err := c.SyscallConn()
	if err != nil {
		return false, false
	}
	rc.Control(func(fd uintptr) {
		_, err := unix.GetsockoptInt(int(fd), unix.IPPROTO_UDP, unix.UDP_SEGMENT)
		gso = err == nil
		gro = wantGRO && unix.SetsockoptInt(int(fd), unix.IPPROTO_UDP, unix.UDP_GRO, 1) == nil
	})
	return gso, gro
}

// setGSOSize appends a UDP_SEGMENT control message to oob.
func setGSOSize(oob *[]byte, size int) {
	space := unix.CmsgSpace(2)
	if cap(*oob)-len(*oob) < space {
		return
	}
	start := len(*oob)
	*oob = (*oob)[:start+space]
	b := (*oob)[start:]
	clear(b)
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
	h.Level = unix.SOL_UDP
	h.Type = unix.UDP_SEGMENT
	h.SetLen(unix.CmsgLen(2))
	*(*uint16)(unsafe.Pointer(&b[unix.CmsgLen(0)])) = uint16(size)
}

// groSize returns the segment size of a GRO-coalesced datagram, or 0.
func groSize(oob []byte) int {
	for len(oob) > unix.SizeofCmsghdr {
		h, data, rest, err := unix.ParseOneSocketControlMessage(oob)
		if err != nil {
			return 0
		}
		if h.Level == unix.SOL_UDP && h.Type == unix.UDP_GRO && len(data) >= 2 {
			return int(*(*uint16)(unsafe.Pointer(&data[0])))
		}
		oob = rest
	}
	return 0
}

// isGSOError reports a send error that means the path cannot segment (no
// checksum offload on the interface).
func isGSOError(err error) bool { return errors.Is(err, unix.EIO) }
