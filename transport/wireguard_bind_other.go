//go:build !linux

package transport

import "net"

// Without UDP offload every packet is its own message.
const (
	maxGSOSegments = 1
	maxGSOPayload  = 0
)

var offloadControlSize = 0

func enableOffload(*net.UDPConn, bool) (gso, gro bool) { return false, false }
func setGSOSize(*[]byte, int)                          {}
func groSize([]byte) int                               { return 0 }
func isGSOError(error) bool                            { return false }
