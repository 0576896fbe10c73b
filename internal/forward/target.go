package forward

import (
	"errors"
	"fmt"
	"net"
	"strings"
)

// ParseAETarget splits "AE@host:port" into the called AE title and the
// address.
func ParseAETarget(s string) (calledAE, addr string, err error) {
	ae, addr, ok := strings.Cut(s, "@")
	if !ok {
		return "", "", errors.New("forward: target must be AE@host:port")
	}
	if ae == "" || len(ae) > 16 || strings.ContainsAny(ae, `\`) || strings.TrimSpace(ae) != ae {
		return "", "", fmt.Errorf("forward: %q is not an ae title of 1 to 16 characters", ae)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" || port == "" {
		return "", "", fmt.Errorf("forward: %q is not host:port", addr)
	}
	return ae, addr, nil
}
