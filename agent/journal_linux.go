//go:build linux

package agent

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// openDirect opens the intake journal for direct I/O (O_DIRECT): records
// go from our aligned buffers to the device without a copy into the page
// cache, and fdatasync then only has to flush the device's cache. File
// systems that refuse O_DIRECT (tmpfs) get buffered I/O, which is as
// durable, only slower.
func openDirect(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|unix.O_DIRECT, 0)
	if errors.Is(err, unix.EINVAL) {
		return os.OpenFile(path, os.O_RDWR, 0)
	}
	return f, err
}

// writeAtv writes bufs at off, in one pwritev call unless it is short.
func writeAtv(f *os.File, bufs [][]byte, off int64) error {
	bufs = append([][]byte(nil), bufs...)
	for len(bufs) > 0 {
		n, err := unix.Pwritev2(int(f.Fd()), bufs, off, 0)
		if err != nil {
			return &os.PathError{Op: "pwritev", Path: f.Name(), Err: err}
		}
		if n == 0 {
			return &os.PathError{Op: "pwritev", Path: f.Name(), Err: unix.EIO}
		}
		off += int64(n)
		for n > 0 && len(bufs) > 0 {
			k := min(n, len(bufs[0]))
			bufs[0] = bufs[0][k:]
			n -= k
			if len(bufs[0]) == 0 {
				bufs = bufs[1:]
			}
		}
	}
	return nil
}

// datasync writes f's data, and the metadata needed to read it back, to
// stable storage (fdatasync: no inode time stamps).
func datasync(f *os.File) error {
	if err := unix.Fdatasync(int(f.Fd())); err != nil {
		return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: err}
	}
	return nil
}
