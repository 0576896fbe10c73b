package agent

import (
	"bytes"
	"errors"
	"hash/crc32"
	"io"
	"sync"
	"unsafe"
)

const (
	// blockSize is the alignment of direct I/O: buffer addresses, lengths
	// and file offsets are multiples of it.
	blockSize = 4096
	// chunkSize is the unit of the buffers an instance is received into.
	chunkSize = 256 << 10
)

// crc32c extends sum with b: CRC-32C, the intake journal's checksum
// (hardware accelerated on amd64 and arm64).
func crc32c(sum uint32, b []byte) uint32 {
	return crc32.Update(sum, crc32.MakeTable(crc32.Castagnoli), b)
}

// chunkPool recycles block-aligned chunks of chunkSize bytes, so that
// receiving an instance allocates nothing in the steady state.
type chunkPool struct{ p sync.Pool }

// get returns an empty chunk with capacity chunkSize.
func (cp *chunkPool) get() []byte {
	if b, ok := cp.p.Get().(*[]byte); ok {
		return (*b)[:0]
	}
	return alignedBlock(chunkSize)[:0]
}

// put returns a chunk to the pool.
func (cp *chunkPool) put(b []byte) {
	b = b[:0]
	cp.p.Put(&b)
}

// alignedBlock returns n zero bytes starting at a blockSize boundary.
func alignedBlock(n int) []byte {
	b := make([]byte, n+blockSize)
	off := int(-uintptr(unsafe.Pointer(&b[0])) & (blockSize - 1))
	return b[off : off+n : off+n]
}

// chunks is a byte string held in aligned chunks from a pool: every chunk
// but the last is full.
type chunks struct {
	pool *chunkPool
	bufs [][]byte
	n    int64
}

// Write appends p.
func (c *chunks) Write(p []byte) (int, error) {
	total := len(p)
	for len(p) > 0 {
		last := c.tail()
		k := copy(last[len(last):cap(last)], p)
		c.bufs[len(c.bufs)-1] = last[:len(last)+k]
		c.n += int64(k)
		p = p[k:]
	}
	return total, nil
}

// tail returns the last chunk, adding one when it is full.
func (c *chunks) tail() []byte {
	if len(c.bufs) == 0 || len(c.bufs[len(c.bufs)-1]) == chunkSize {
		c.bufs = append(c.bufs, c.pool.get())
	}
	return c.bufs[len(c.bufs)-1]
}

// fill reads r into c until io.EOF, and reports true, or until c holds
// more than limit bytes, and reports false: the rest is still in r.
func (c *chunks) fill(r io.Reader, limit int64) (bool, error) {
	for c.n <= limit {
		last := c.tail()
		k, err := r.Read(last[len(last):cap(last)])
		c.bufs[len(c.bufs)-1] = last[:len(last)+k]
		c.n += int64(k)
		if errors.Is(err, io.EOF) {
			return true, nil
		}
		if err != nil {
			return false, err
		}
	}
	return false, nil
}

// crc returns the CRC-32C of the bytes.
func (c *chunks) crc() uint32 {
	var sum uint32
	for _, b := range c.bufs {
		sum = crc32c(sum, b)
	}
	return sum
}

// padded returns the chunks with the last one zero-padded to a multiple
// of blockSize, for one direct write.
func (c *chunks) padded() [][]byte {
	if len(c.bufs) == 0 {
		return nil
	}
	out := append([][]byte(nil), c.bufs...)
	last := out[len(out)-1]
	n := (len(last) + blockSize - 1) &^ (blockSize - 1)
	clear(last[len(last):n])
	out[len(out)-1] = last[:n]
	return out
}

// WriteTo writes the bytes to w.
func (c *chunks) WriteTo(w io.Writer) (int64, error) {
	var n int64
	for _, b := range c.bufs {
		k, err := w.Write(b)
		n += int64(k)
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// reader returns a reader of the bytes; c must not change while it is
// read.
func (c *chunks) reader() io.Reader {
	rs := make([]io.Reader, len(c.bufs))
	for i, b := range c.bufs {
		rs[i] = bytes.NewReader(b)
	}
	return io.MultiReader(rs...)
}

// release returns the chunks to the pool; c is empty afterwards.
func (c *chunks) release() {
	for _, b := range c.bufs {
		c.pool.put(b)
	}
	c.bufs, c.n = nil, 0
}
