package agent

import (
	"bufio"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
)

// spoolPath is where item id's sealed file lives in dir.
func spoolPath(dir string, id int64) string {
	return filepath.Join(dir, strconv.FormatInt(id, 10)+".sealed")
}

// spoolWriter writes a spool file atomically: into a temporary file in the
// same folder, then fsync, rename and fsync of the folder in commit.
type spoolWriter struct {
	f     *os.File
	buf   *bufio.Writer
	n     int64 // bytes written
	pools *bufPools
}

func newSpoolWriter(dir string, id int64, pools *bufPools) (*spoolWriter, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("agent: spool: %w", err)
	}
	f, err := os.CreateTemp(dir, "."+strconv.FormatInt(id, 10)+".sealed.tmp-*")
	if err != nil {
		return nil, fmt.Errorf("agent: spool: %w", err)
	}
	return &spoolWriter{f: f, buf: pools.writer(f), pools: pools}, nil
}

// Write buffers p for the temporary file.
func (w *spoolWriter) Write(p []byte) (int, error) {
	n, err := w.buf.Write(p)
	w.n += int64(n)
	return n, err
}

// release returns the write buffer to the pool once everything is flushed
// or abandoned.
func (w *spoolWriter) release() {
	if w.buf != nil {
		w.pools.putWriter(w.buf)
		w.buf = nil
	}
}

// sum returns the SHA-256 of the synced temporary file, read back.
func (w *spoolWriter) sum() ([]byte, error) {
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(w.f, 0, w.n)); err != nil {
		return nil, fmt.Errorf("agent: spool read back: %w", err)
	}
	return h.Sum(nil), nil
}

// sync flushes and fsyncs the temporary file.
func (w *spoolWriter) sync() error {
	err := w.buf.Flush()
	w.release()
	if err != nil {
		return fmt.Errorf("agent: spool write: %w", err)
	}
	if err := w.f.Sync(); err != nil {
		return fmt.Errorf("agent: spool sync: %w", err)
	}
	return nil
}

// commit closes the synced temporary file and renames it to dst, then
// fsyncs the folder so the rename survives a power cut.
func (w *spoolWriter) commit(dst string) error {
	if err := w.f.Close(); err != nil {
		os.Remove(w.f.Name())
		return fmt.Errorf("agent: spool close: %w", err)
	}
	if err := os.Rename(w.f.Name(), dst); err != nil {
		os.Remove(w.f.Name())
		return fmt.Errorf("agent: spool rename: %w", err)
	}
	d, err := os.Open(filepath.Dir(dst))
	if err != nil {
		return fmt.Errorf("agent: spool dir sync: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("agent: spool dir sync: %w", err)
	}
	return nil
}

// abort discards the temporary file.
func (w *spoolWriter) abort() {
	w.release()
	w.f.Close()
	os.Remove(w.f.Name())
}
