package relay

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"dicomgate/audit"
	"dicomgate/transport"
)

// fullQuiet is how long after its last refusal an episode of full storage
// ends, once a file was committed since: a disk on the edge (each commit
// freeing room for the next) is one episode, not one per file.
const fullQuiet = 10 * time.Second

// storageEpisode is one stretch of time during which uploads were
// refused because the relay's storage was full.
type storageEpisode struct {
	since       time.Time
	lastRefusal time.Time
	refusals    int
	committed   bool // a file was committed after lastRefusal
	audited     bool // storage.full is in the trail
	armed       bool // a timer will look again
}

// fullStorage tracks whether the relay's storage (staging folder, object
// store, metadata database) is full: an episode starts at the first
// upload refused for it and ends once a file was committed and none was
// refused for fullQuiet. Each episode is logged, counted and audited
// once, never once per file.
type fullStorage struct {
	gauge prometheus.Gauge // dicomgate_relay_storage_full, set under mu

	mu sync.Mutex
	// +checklocks:mu
	cur *storageEpisode // nil: not full
}

// refused notes a refusal at now and returns the episode's state and
// whether it just started.
func (fs *fullStorage) refused(now time.Time) (ep storageEpisode, started bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.cur == nil {
		fs.cur = &storageEpisode{since: now}
		fs.gauge.Set(1)
		started = true
	}
	fs.cur.refusals++
	fs.cur.lastRefusal, fs.cur.committed = now, false
	return *fs.cur, started
}

// committed notes a file committed at now. It ends the episode when none
// was refused for fullQuiet, returning it; otherwise it returns how long
// to wait before settle may end it (0: a timer is armed already, or there
// is no episode).
func (fs *fullStorage) committed(now time.Time) (ended *storageEpisode, recheck time.Duration) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.cur == nil {
		return nil, 0
	}
	fs.cur.committed = true
	return fs.settle(now)
}

// settle ends the episode if a file was committed after its last refusal
// and fullQuiet has passed since, or says when to look again.
//
// +checklocks:fs.mu
func (fs *fullStorage) settle(now time.Time) (ended *storageEpisode, recheck time.Duration) {
	ep := fs.cur
	if ep == nil || !ep.committed {
		return nil, 0
	}
	if wait := fs.cur.lastRefusal.Add(fullQuiet).Sub(now); wait > 0 {
		if ep.armed {
			return nil, 0
		}
		ep.armed = true
		return nil, wait
	}
	fs.cur = nil
	fs.gauge.Set(0)
	return ep, 0
}

// timerFired is settle for a timer armed by committed or settle.
func (fs *fullStorage) timerFired(now time.Time) (ended *storageEpisode, recheck time.Duration) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.cur == nil {
		return nil, 0
	}
	fs.cur.armed = false
	return fs.settle(now)
}

// markAudited notes that the current episode is in the audit trail.
func (fs *fullStorage) markAudited() {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.cur != nil {
		fs.cur.audited = true
	}
}

// fullSince returns when the current episode started, zero if none.
func (fs *fullStorage) fullSince() time.Time {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.cur == nil {
		return time.Time{}
	}
	return fs.cur.since
}

// refuseFull answers an upload that failed because the relay's storage
// is full (store.IsFull): nothing of it is committed, and the agent is
// told to retry later ([transport.RejectStorageFull]). where says which
// step failed ("staging" or "commit"); err is logged at the start of an
// episode only (it names relay folders and pseudonymous keys, no PHI).
func (s *Server) refuseFull(ctx context.Context, peer transport.Peer, offer *transport.Offer, where string, err error) error {
	ep, started := s.full.refused(time.Now())
	s.mon.fullRefusals.Inc()
	if started {
		s.log.Warn().Err(err).Str("step", where).Msg("relay storage full: refusing uploads until space returns")
		if s.auditFull(ctx, ep) == nil {
			s.full.markAudited()
		}
	} else {
		s.log.Debug().Str("agent_id", peer.AgentID).Str("file_id", offer.ID).Str("step", where).Msg("upload refused: storage full")
	}
	return transport.RejectStorageFull()
}

// storageAvailable is called after each file committed: it ends an
// episode of full storage (see [fullStorage]), at once or by a timer.
func (s *Server) storageAvailable(ctx context.Context) {
	ep, recheck := s.full.committed(time.Now())
	s.endFull(ctx, ep, recheck)
}

// endFull logs and, if need be, audits an ended episode, or arms a timer
// to look again after recheck.
func (s *Server) endFull(ctx context.Context, ep *storageEpisode, recheck time.Duration) {
	if recheck > 0 {
		ctx := context.WithoutCancel(ctx)
		time.AfterFunc(recheck, func() {
			ep, recheck := s.full.timerFired(time.Now())
			s.endFull(ctx, ep, recheck)
		})
	}
	if ep == nil {
		return
	}
	s.log.Info().Int("refusals", ep.refusals).Dur("lasted", time.Since(ep.since).Round(time.Millisecond)).
		Msg("relay storage available again")
	if !ep.audited {
		// The trail's database was on the full disk when the episode
		// started: it is recorded now.
		_ = s.auditFull(ctx, *ep)
	}
}

// auditFull records storage.full for ep.
func (s *Server) auditFull(ctx context.Context, ep storageEpisode) error {
	return s.recordErr(ctx, audit.Event{Actor: "system", Action: audit.ActionStorageFull,
		Reason: "relay storage full", Details: map[string]any{
			"since": ep.since.UTC().Format(time.RFC3339), "refusals": ep.refusals}})
}
