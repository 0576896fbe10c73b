package e2e

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// noMountEnv names the variable that turns the disk-full suites into skips
// where the tests may not mount (not root, no CAP_SYS_ADMIN). Without it
// they fail: CI runs as root and must run them.
const noMountEnv = "DICOMGATE_NO_MOUNT"

// mountTmpfs mounts a tmpfs of sizeMiB MiB on dir (created if needed), so
// that dir is a real filesystem the test can fill, and unmounts it when
// the test ends (lazily if a process still holds a file there). Processes
// using it must be stopped by then: defer their kill in the test.
func mountTmpfs(t *testing.T, dir string, sizeMiB int) {
	t.Helper()
	mountTmpfsSize(t, dir, fmt.Sprintf("%dm", sizeMiB))
}

// mountTmpfsSize is mountTmpfs with the size in mount(8)'s syntax ("512k").
func mountTmpfsSize(t *testing.T, dir, size string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size+",mode=0700")
	if err != nil {
		if os.Getenv(noMountEnv) == "1" {
			t.Skipf("%s=1: cannot mount a tmpfs for the disk-full suite: %v", noMountEnv, err)
		}
		t.Fatalf("the disk-full suite mounts a small tmpfs (mount -t tmpfs) to fill a real filesystem: "+
			"it needs root or CAP_SYS_ADMIN: %v (set %s=1 to skip it where mounting is impossible)", err, noMountEnv)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
				t.Errorf("unmount %s: %v", dir, err)
			}
		}
	})
}

// freeBytes returns the bytes an unprivileged writer may still use on the
// filesystem holding dir.
func freeBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Bavail) * int64(st.Bsize)
}

// ballast is a file that fills a filesystem.
type ballast struct {
	t    *testing.T
	path string
}

// fillDisk writes a ballast file in dir until at most leave bytes stay
// free: writes after that hit ENOSPC part way. Others writing at the same
// time may fill the rest first; the ballast then simply stops short.
func fillDisk(t *testing.T, dir string, leave int64) *ballast {
	t.Helper()
	b := &ballast{t: t, path: filepath.Join(dir, "ballast.bin")}
	f, err := os.OpenFile(b.path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := freeBytes(t, dir) - leave
	if n > 0 {
		_, err = io.CopyN(f, zeros{}, n)
		if err != nil && !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("ballast: %v", err)
		}
	}
	return b
}

// remove deletes the ballast: space returns.
func (b *ballast) remove() {
	b.t.Helper()
	if err := os.Remove(b.path); err != nil {
		b.t.Fatal(err)
	}
}

// zeros reads as an endless run of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
