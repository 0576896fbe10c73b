package relay

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"sync"

	"dicomgate/transport"
)

// stagingBufSize is the size of the writes to a staging file.
const stagingBufSize = 64 << 10

// stageLocks serialises the streams that stage the same file, so that a
// retry waits for a cut stream to finish writing before it reads the
// staged length.
type stageLocks struct {
	mu sync.Mutex
	// +checklocks:mu
	m map[string]*stageLock
}

type stageLock struct {
	ch   chan struct{} // holds one token while locked
	refs int           // +checklocks:stageLocks.mu
}

// lock locks key until unlock is called, or fails when ctx ends first.
func (l *stageLocks) lock(ctx context.Context, key string) (unlock func(), err error) {
	l.mu.Lock()
	sl := l.m[key]
	if sl == nil {
		sl = &stageLock{ch: make(chan struct{}, 1)}
		l.m[key] = sl
	}
	sl.refs++
	l.mu.Unlock()
	select {
	case sl.ch <- struct{}{}:
		return func() { <-sl.ch; l.release(key, sl) }, nil
	case <-ctx.Done():
		l.release(key, sl)
		return nil, ctx.Err()
	}
}

// tryLock locks key if it is free, without waiting; ok is false when
// someone holds it. (A holder that has just unlocked counts as gone,
// even before its release below ran.)
func (l *stageLocks) tryLock(key string) (unlock func(), ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	sl := l.m[key]
	if sl == nil {
		sl = &stageLock{ch: make(chan struct{}, 1)}
		l.m[key] = sl
	}
	select {
	case sl.ch <- struct{}{}:
		sl.refs++
		return func() { <-sl.ch; l.release(key, sl) }, true
	default:
		return nil, false
	}
}

// release drops one reference to sl, the lock of key, and forgets it
// when none is left.
func (l *stageLocks) release(key string, sl *stageLock) {
	l.mu.Lock()
	defer l.mu.Unlock()
	sl.refs--
	if sl.refs == 0 {
		delete(l.m, key)
	}
}

// stagePath is the staging file of one offer of one agent. The name is a
// hash, so it carries no identifier, and a different offer under the same
// file ID gets a fresh file.
func stagePath(dir, agentID string, offer *transport.Offer) string {
	h := sha256.New()
	io.WriteString(h, agentID)
	h.Write([]byte{0})
	io.WriteString(h, offer.ID)
	h.Write([]byte{0})
	h.Write(offer.SHA256[:])
	return filepath.Join(dir, hex.EncodeToString(h.Sum(nil))+".part")
}

// stagedSize returns how many bytes of offer are staged at path.
func stagedSize(path string, size int64) (int64, error) {
	fi, err := os.Stat(path)
	if os.IsNotExist(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return min(fi.Size(), size), nil
}

// stage copies r to f from offset on, and to h (a hash: it never fails)
// once written, reporting progress to the test hook. It returns the bytes
// written. Writes are of stagingBufSize bytes but the last: a stream hands
// out data a packet or two at a time, and a write per packet costs more
// than the copy.
func (s *Server) stage(f *os.File, fileID string, offset int64, r io.Reader, h io.Writer) (int64, error) {
	buf := make([]byte, stagingBufSize)
	var n int64
	for {
		m, rerr := io.ReadFull(r, buf)
		if rerr == io.ErrUnexpectedEOF {
			rerr = io.EOF
		}
		if m > 0 {
			if _, err := f.WriteAt(buf[:m], offset+n); err != nil {
				return n, err
			}
			h.Write(buf[:m])
			n += int64(m)
			if s.onStaged != nil {
				s.onStaged(fileID, offset+n)
			}
		}
		if rerr == io.EOF {
			return n, nil
		}
		if rerr != nil {
			return n, rerr
		}
	}
}
