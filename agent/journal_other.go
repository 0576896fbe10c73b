//go:build !linux

package agent

import "os"

// openDirect opens the intake journal; without O_DIRECT the records go
// through the page cache, as durable and slower.
func openDirect(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDWR, 0)
}

// writeAtv writes bufs at off.
func writeAtv(f *os.File, bufs [][]byte, off int64) error {
	for _, b := range bufs {
		if _, err := f.WriteAt(b, off); err != nil {
			return err
		}
		off += int64(len(b))
	}
	return nil
}

// datasync writes f to stable storage.
func datasync(f *os.File) error { return f.Sync() }
