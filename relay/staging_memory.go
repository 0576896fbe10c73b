package relay

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
)

// memStaging holds the uploads received in memory (see [StagingConfig]):
// a budget of bytes shared by all of them and a pool of stagingBufSize
// chunks they are received into.
type memStaging struct {
	limit  int64 // largest file held in memory
	budget int64 // bytes of all of them; <= 0: none
	used   atomic.Int64
	chunks sync.Pool // *[]byte of stagingBufSize
}

func newMemStaging(cfg StagingConfig) *memStaging {
	m := &memStaging{limit: cfg.MemoryFileLimit, budget: cfg.MemoryBudget}
	m.chunks.New = func() any {
		b := make([]byte, stagingBufSize)
		return &b
	}
	return m
}

// take reserves the memory of a file of size bytes, or returns nil when
// the file is too large or the budget is spent: it never waits.
func (m *memStaging) take(size int64) *memUpload {
	if m.budget <= 0 || size > m.limit || size < 0 {
		return nil
	}
	need := (size + stagingBufSize - 1) / stagingBufSize * stagingBufSize
	for {
		used := m.used.Load()
		if used+need > m.budget {
			return nil
		}
		if m.used.CompareAndSwap(used, used+need) {
			return &memUpload{m: m, size: size, reserved: need}
		}
	}
}

// reserve takes n bytes of the budget, for the part a streamed upload
// holds (writeStreamed), or reports false when the budget has no room: it
// never waits. unreserve gives them back.
func (m *memStaging) reserve(n int64) bool {
	if m.budget <= 0 || n < 0 {
		return false
	}
	for {
		used := m.used.Load()
		if used+n > m.budget {
			return false
		}
		if m.used.CompareAndSwap(used, used+n) {
			return true
		}
	}
}

// unreserve gives back n bytes that reserve took.
func (m *memStaging) unreserve(n int64) { m.used.Add(-n) }

// memUpload is one upload received in memory: n bytes in chunks of
// stagingBufSize, all full but the last.
type memUpload struct {
	m        *memStaging
	size     int64 // offered size
	reserved int64 // bytes of m's budget it holds
	chunks   []*[]byte
	n        int64 // bytes received
	extra    bool  // the stream held more than size bytes
	// unpooled: the chunks go to the collector, not back to the pool: a
	// failed object store request may still read them after it returned
	// (an HTTP body is closed, and may be read, in the background).
	unpooled bool
}

// errMemUploadFull reports more received bytes than the reservation.
var errMemUploadFull = errors.New("relay: upload larger than its memory reservation")

// receive reads r to its end, writing each chunk to h (a hash: it never
// fails) and calling progress with the bytes received so far. It returns
// nil at io.EOF, also before size bytes (the caller checks u.n), and
// notes more bytes than size in u.extra.
func (u *memUpload) receive(r io.Reader, h io.Writer, progress func(int64)) error {
	for u.n < u.size {
		if int64(len(u.chunks))*stagingBufSize >= u.reserved {
			return errMemUploadFull
		}
		buf := u.m.chunks.Get().(*[]byte)
		u.chunks = append(u.chunks, buf)
		k := min(int64(len(*buf)), u.size-u.n)
		m, err := io.ReadFull(r, (*buf)[:k])
		if m > 0 {
			h.Write((*buf)[:m])
			u.n += int64(m)
			if progress != nil {
				progress(u.n)
			}
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
	// The stream ends here (the transport's reader ends at the offered
	// size, with the agent's Done): read on to see it end.
	var one [1]byte
	m, err := io.ReadFull(r, one[:])
	if m > 0 {
		u.extra = true
		return nil
	}
	if err == io.EOF {
		return nil
	}
	return err
}

// complete reports whether exactly size bytes were received.
func (u *memUpload) complete() bool { return u.n == u.size && !u.extra }

// reader returns the received bytes to read from the start.
func (u *memUpload) reader() *memReader { return &memReader{u: u} }

// writeFile writes the received bytes to a new file at path, replacing
// what was there, and fsyncs it when sync is set. On failure the file is
// removed; the error is the first one met.
func (u *memUpload) writeFile(path string, sync bool) error {
	return writeStagingFile(path, u.reader(), sync)
}

// writeStagingFile writes r to a new file at path, replacing what was
// there, and fsyncs it when sync is set. On failure the file is removed;
// the error is the first one met.
func writeStagingFile(path string, r io.Reader, sync bool) (err error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(path)
		}
	}()
	if _, err := io.Copy(f, r); err != nil {
		return err
	}
	if sync {
		return f.Sync()
	}
	return nil
}

// release gives the chunks back to the pool and the reservation back to
// the budget. Nothing may read u afterwards.
func (u *memUpload) release() {
	if !u.unpooled {
		for _, c := range u.chunks {
			u.m.chunks.Put(c)
		}
	}
	u.chunks = nil
	u.m.used.Add(-u.reserved)
	u.reserved = 0
}

// memReader reads a memUpload's bytes; it is an io.ReadSeeker.
type memReader struct {
	u   *memUpload
	pos int64
}

// Read implements io.Reader.
func (r *memReader) Read(p []byte) (int, error) {
	if r.pos >= r.u.n {
		return 0, io.EOF
	}
	c := *r.u.chunks[r.pos/stagingBufSize]
	off := r.pos % stagingBufSize
	end := min(int64(len(c)), r.u.n-(r.pos-off))
	n := copy(p, c[off:end])
	r.pos += int64(n)
	return n, nil
}

// Seek implements io.Seeker.
func (r *memReader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += r.pos
	case io.SeekEnd:
		offset += r.u.n
	default:
		return r.pos, fmt.Errorf("relay: seek: whence %d", whence)
	}
	if offset < 0 {
		return r.pos, fmt.Errorf("relay: seek to %d", offset)
	}
	r.pos = offset
	return offset, nil
}
