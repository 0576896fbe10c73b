package relay

import (
	"context"
	"sync"

	"dicomgate/audit"
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
