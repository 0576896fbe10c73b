package agent

import (
	"context"
	"sync"
	"time"
)

// Sealed files of small sources skip the spool folder: they are sealed
// into memory and handed to the upload stage (see agent/doc.go, "Sealed
// in memory"). These bound it.
const (
	// memSpoolMaxSource is the largest source file sealed into memory.
	memSpoolMaxSource = 8 << 20
	// memSpoolSlack is reserved beyond the source's size: the anonymised
	// file may be a little larger (dummy values, the de-identification
	// attributes), and sealing adds a header and a tag per chunk.
	memSpoolSlack = 64 << 10
	// memSpoolWait is how long processing waits for room in the budget
	// before it seals into the spool folder instead. Room is made by
	// uploads ending (a failed one moves its file to the spool), so
	// processing keeps pace with uploading rather than racing ahead into
	// the spool folder; it waits this long only when no upload ends.
	memSpoolWait = 2 * time.Second
)

// memSpool holds sealed files in memory from processing until their
// upload ends, keyed by queue id, within a byte budget. The zero value is
// not ready: use newMemSpool.
type memSpool struct {
	budget int64
	bufs   sync.Pool // *[]byte, recycled between files

	mu sync.Mutex
	// +checklocks:mu
	used int64
	// +checklocks:mu
	files map[int64]*memFile
	// freed is closed (and replaced) whenever room is given back.
	// +checklocks:mu
	freed chan struct{}
}

func newMemSpool(budget int64) *memSpool {
	return &memSpool{budget: budget, files: map[int64]*memFile{}, freed: make(chan struct{})}
}

// memFile is one sealed file in memory. It is an io.Writer for the
// processor.
type memFile struct {
	buf      []byte
	reserved int64
	sealed   bool // its item is marked sealed (+checklocks:memSpool.mu)
}

// Write appends p. It never fails: a file larger than its reservation
// grows (by at most a few kilobytes past memSpoolSlack in practice), and
// the budget is charged for the growth when the file is held.
func (f *memFile) Write(p []byte) (int, error) {
	f.buf = append(f.buf, p...)
	return len(p), nil
}

// reserve returns an empty file with room for the sealed form of a source
// of size bytes, or nil when the source is too large to be sealed in
// memory or the budget is spent.
func (m *memSpool) reserve(size int64) *memFile {
	return m.reserveWait(context.Background(), size, 0)
}

// reserveWait is reserve, waiting up to wait (or until ctx ends) for room
// when the budget is spent.
func (m *memSpool) reserveWait(ctx context.Context, size int64, wait time.Duration) *memFile {
	if m == nil || size < 0 || size > memSpoolMaxSource || size+memSpoolSlack > m.budget {
		return nil
	}
	n := size + memSpoolSlack
	var timeout <-chan time.Time
	for {
		m.mu.Lock()
		if m.used+n <= m.budget {
			m.used += n
			m.mu.Unlock()
			break
		}
		freed := m.freed
		m.mu.Unlock()
		if wait <= 0 {
			return nil
		}
		if timeout == nil {
			t := time.NewTimer(wait)
			defer t.Stop()
			timeout = t.C
		}
		select {
		case <-freed:
		case <-timeout:
			return nil
		case <-ctx.Done():
			return nil
		}
	}
	f := &memFile{reserved: n}
	if bp, ok := m.bufs.Get().(*[]byte); ok && int64(cap(*bp)) >= n {
		f.buf = (*bp)[:0]
	} else {
		f.buf = make([]byte, 0, n)
	}
	return f
}

// hold keeps f as the sealed file of item id until take.
func (m *memSpool) hold(id int64, f *memFile) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if grown := int64(len(f.buf)) - f.reserved; grown > 0 {
		m.used += grown
		f.reserved += grown
	}
	if old := m.files[id]; old != nil {
		m.releaseLocked(old)
	}
	m.files[id] = f
}

// take removes and returns the sealed file held for item id, or nil. The
// caller frees it once done.
func (m *memSpool) take(id int64) *memFile {
	if m == nil {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	f := m.files[id]
	delete(m.files, id)
	return f
}

// markSealed records that the item of the file held for id is marked
// sealed in the queue.
func (m *memSpool) markSealed(id int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if f := m.files[id]; f != nil {
		f.sealed = true
	}
}

// takeSealed removes and returns every file held whose item is marked
// sealed.
func (m *memSpool) takeSealed() map[int64]*memFile {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[int64]*memFile{}
	for id, f := range m.files {
		if f.sealed {
			out[id] = f
			delete(m.files, id)
		}
	}
	return out
}

// free returns f's room to the budget and its buffer to the pool.
func (m *memSpool) free(f *memFile) {
	if f == nil {
		return
	}
	m.mu.Lock()
	m.releaseLocked(f)
	m.mu.Unlock()
}

// +checklocks:m.mu
func (m *memSpool) releaseLocked(f *memFile) {
	m.used -= f.reserved
	f.reserved = 0
	close(m.freed)
	m.freed = make(chan struct{})
	if f.buf != nil {
		b := f.buf[:0]
		f.buf = nil
		m.bufs.Put(&b)
	}
}

// inUse returns the bytes reserved now.
func (m *memSpool) inUse() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.used
}
