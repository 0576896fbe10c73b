//go:build !unix

package agent

import (
	"fmt"
	"os"
)

// lockFile creates path exclusively, so that two agents never share one
// queue. A crash leaves the file behind; remove it by hand.
func lockFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("agent: queue lock: %w: %w", ErrQueueLocked, err)
	}
	return f, nil
}

// unlockFile releases a lock taken by lockFile.
func unlockFile(f *os.File) error {
	err := f.Close()
	if rerr := os.Remove(f.Name()); err == nil {
		err = rerr
	}
	return err
}
