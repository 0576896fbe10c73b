package relay

import (
	"context"
	"fmt"
	"sync"
	"time"

	"dicomgate/audit"
	"dicomgate/store"
	"dicomgate/transport"
)

// unaudited holds the file.committed events of files whose commit is
// recorded but whose audit append failed (the audit trail's storage full
// or unavailable). Such a file gets no receipt: the agent is told to retry,
// and the retry, finding the file committed, appends the event first. A
// receipt therefore always follows the audit event of its commit.
type unaudited struct {
	mu     sync.Mutex
	events map[string]audit.Event // +checklocks:mu
	// late serialises the trail checks of auditCommitted.
	late sync.Mutex
}

func (u *unaudited) put(fileID string, ev audit.Event) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.events == nil {
		u.events = make(map[string]audit.Event)
	}
	u.events[fileID] = ev
}

func (u *unaudited) get(fileID string) (audit.Event, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	ev, ok := u.events[fileID]
	return ev, ok
}

func (u *unaudited) done(fileID string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	delete(u.events, fileID)
}

// auditCommit appends the file.committed event of a file just committed.
// When that fails the event is kept for the agent's retry and the upload
// is refused as retryable: the relay holds the file, the trail must say so
// before the agent is told.
func (s *Server) auditCommit(ctx context.Context, fileID string, ev audit.Event) error {
	if err := s.recordErr(ctx, ev); err != nil {
		s.pendingAudit.put(fileID, ev)
		return transport.RejectStorageFull()
	}
	return nil
}

// auditPending appends the file.committed event that an earlier attempt
// could not, if any: the receipt of fileID may go out once it returns nil.
func (s *Server) auditPending(ctx context.Context, fileID string) error {
	ev, ok := s.pendingAudit.get(fileID)
	if !ok {
		return nil
	}
	if err := s.recordErr(ctx, ev); err != nil {
		return transport.RejectStorageFull()
	}
	s.pendingAudit.done(fileID)
	return nil
}

// auditCommitted makes sure the trail holds the file.committed event of a
// committed file that an agent sends again, before its receipt goes out
// again: the event pending in memory (auditPending), or, when this relay
// did not see the failed append (it restarted, or another relay on the
// same database committed the file and stopped before its append), one
// found in the trail; if there is none, it is appended now, marked late
// with the commit's own time. Only re-sends pay for the lookup.
func (s *Server) auditCommitted(ctx context.Context, c *checkedOffer, rec *store.FileRecord) error {
	if err := s.auditPending(ctx, c.offer.ID); err != nil {
		return err
	}
	if c.res.audit == nil {
		return nil
	}
	s.pendingAudit.late.Lock()
	defer s.pendingAudit.late.Unlock()
	f := audit.Filter{Since: rec.CommittedAt.Add(-time.Second), Action: audit.ActionFileCommitted,
		Project: rec.Project, Study: rec.StudyUID}
	for en, err := range c.res.audit.Query(ctx, f) {
		if err != nil {
			return fmt.Errorf("relay: audit query: %w", err)
		}
		if en.Object == auditSafe(c.offer.ID) {
			return nil
		}
	}
	d := manifestDetails(c.manifest)
	d["recorded_late"] = true
	d["committed_at"] = rec.CommittedAt.UTC().Format(time.RFC3339Nano)
	ev := audit.Event{Actor: rec.AgentID, Action: audit.ActionFileCommitted, Project: rec.Project,
		Study: rec.StudyUID, Object: c.offer.ID, Details: d}
	if err := s.recordErr(ctx, ev); err != nil {
		return transport.RejectStorageFull()
	}
	s.log.Warn().Str("file_id", c.offer.ID).Msg("commit audited late: its event was missing from the trail")
	return nil
}
