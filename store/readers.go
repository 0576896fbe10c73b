package store

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// exactReader passes through exactly size bytes of r and fails with
// ErrSizeMismatch if r is shorter or longer. The final bytes are withheld
// (n == 0 with an error) when r turns out to be longer, so that a consumer
// using io.ReadFull cannot mistake a too-long body for a complete one.
type exactReader struct {
	stop func() error // ctx.Err of the call this reader serves
	r    io.Reader
	left int64
}

// newExactReader returns a reader of exactly size bytes from r that also
// stops with ctx's error once ctx is done.
func newExactReader(ctx context.Context, r io.Reader, size int64) *exactReader {
	return &exactReader{stop: ctx.Err, r: r, left: size}
}

// Read implements io.Reader.
func (e *exactReader) Read(p []byte) (int, error) {
	if err := e.stop(); err != nil {
		return 0, err
	}
	if e.left == 0 {
		if err := e.probeEOF(); err != nil {
			return 0, err
		}
		return 0, io.EOF
	}
	if int64(len(p)) > e.left {
		p = p[:e.left]
	}
	n, err := e.r.Read(p)
	e.left -= int64(n)
	if e.left == 0 {
		if perr := e.probeEOF(); perr != nil {
			return 0, perr
		}
		return n, io.EOF
	}
	if errors.Is(err, io.EOF) {
		return n, fmt.Errorf("%w: reader ended %d bytes early", ErrSizeMismatch, e.left)
	}
	return n, err
}

// probeEOF checks that the underlying reader has nothing beyond size.
func (e *exactReader) probeEOF() error {
	var b [1]byte
	for range 100 {
		n, err := e.r.Read(b[:])
		if n > 0 {
			return fmt.Errorf("%w: reader longer than size", ErrSizeMismatch)
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return io.ErrNoProgress
}
