//go:build !linux

package transport

import "net"

// wrapGRO returns u: coalesced UDP reads (UDP_GRO) are Linux only.
func wrapGRO(u net.PacketConn) net.PacketConn { return u }
