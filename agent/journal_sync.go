package agent

import "sync"

// groupSync shares one flush among concurrent callers (group commit): a
// caller whose write has completed calls wait, which returns once a flush
// that started after the call has finished. Callers arriving while a flush
// runs wait for it and then share the next one, so n associations
// finishing instances together cost one or two flushes, not n.
//
// A failed flush is sticky: after it, wait always returns the error,
// because on Linux a failed fsync may have dropped the dirty data it was
// meant to write, and retrying would report a success that is not one.
type groupSync struct {
	flush func() error

	mu      sync.Mutex
	cond    sync.Cond // on mu; broadcast when a flush ends
	started uint64    // +checklocks:mu; flushes started
	done    uint64    // +checklocks:mu; flushes finished
	running bool      // +checklocks:mu
	waiters int       // +checklocks:mu; callers waiting for another's flush
	err     error     // +checklocks:mu; sticky
}

// newGroupSync returns a groupSync calling flush.
func newGroupSync(flush func() error) *groupSync {
	g := &groupSync{flush: flush}
	g.cond.L = &g.mu
	return g
}

// wait returns nil once a flush started after the call has succeeded.
func (g *groupSync) wait() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	target := g.started + 1
	for g.done < target && g.err == nil {
		if g.running {
			g.waiters++
			g.cond.Wait()
			g.waiters--
			continue
		}
		g.running = true
		g.started++
		round := g.started
		g.mu.Unlock()
		err := g.flush()
		g.mu.Lock()
		g.running = false
		g.done = round
		if err != nil {
			g.err = err
		}
		g.cond.Broadcast()
	}
	return g.err
}
