//go:build unix

package store

import (
	"errors"
	"syscall"
)

// isNotDir reports whether err is ENOTDIR (a path component is a file).
func isNotDir(err error) bool {
	return errors.Is(err, syscall.ENOTDIR)
}
