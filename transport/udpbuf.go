package transport

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// wantUDPBuffer is the socket buffer size quic-go asks for (7 MiB).
const wantUDPBuffer = 7 << 20

// UDPBufferWarning returns advice when the kernel caps UDP socket buffers
// below what QUIC needs for full throughput (net.core.rmem_max and
// net.core.wmem_max on Linux), or "" when they suffice or cannot be read
// (non-Linux). Callers log it once at start-up.
func UDPBufferWarning() string { return udpBufferWarning("/proc/sys") }

// udpBufferWarning reads the limits under root (a /proc/sys tree).
func udpBufferWarning(root string) string {
	var low []string
	for _, name := range []string{"rmem_max", "wmem_max"} {
		b, err := os.ReadFile(filepath.Join(root, "net", "core", name))
		if err != nil {
			continue
		}
		v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil || v >= wantUDPBuffer {
			continue
		}
		low = append(low, fmt.Sprintf("net.core.%s=%d", name, v))
	}
	if len(low) == 0 {
		return ""
	}
	return fmt.Sprintf("UDP socket buffers are capped below the %d bytes QUIC wants (%s); "+
		"throughput may suffer. Raise them with: sysctl -w net.core.rmem_max=%d net.core.wmem_max=%d "+
		"(persist in /etc/sysctl.d/60-dicomgate.conf)",
		wantUDPBuffer, strings.Join(low, ", "), wantUDPBuffer, wantUDPBuffer)
}
