package agent

import (
	"sync"
	"time"
)

// stagePause holds a pipeline stage back while a disk its items write to
// is full (the spool or queue for processing, the relay's storage for
// uploads): instead of running every due item into the same error, the
// stage waits a back-off, growing with each failure up to retry.max, then
// tries one item at a time. The first step that succeeds lifts the pause.
// The zero value is not paused.
type stagePause struct {
	mu sync.Mutex
	// +checklocks:mu
	fails int // storage-full failures in a row; 0: not paused
	// +checklocks:mu
	until time.Time // no claim before
}

// failed notes a storage-full failure at now.
func (sp *stagePause) failed(now time.Time, retry RetryConfig) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	sp.fails++
	sp.until = now.Add(backoff(max(retry.Min, 10*time.Millisecond), retry.Max, sp.fails))
}

// succeeded lifts the pause.
func (sp *stagePause) succeeded() {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	sp.fails = 0
}

// admit returns how many items the stage, with idle of its n workers
// idle, may claim at now: all idle ones when not paused; while paused,
// one when the back-off is over and no item is in progress, else none,
// with how long until the back-off is over (0: wait for the item in
// progress).
func (sp *stagePause) admit(now time.Time, idle, n int) (limit int, wait time.Duration) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	switch {
	case sp.fails == 0:
		return idle, 0
	case now.Before(sp.until):
		return 0, sp.until.Sub(now)
	case idle < n:
		return 0, 0
	}
	return 1, 0
}
