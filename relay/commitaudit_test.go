package relay

import (
	"context"
	"database/sql"
	"testing"

	"dicomgate/audit"
	"dicomgate/transport"
)

// TestReceiptFollowsAuditedCommit: when the audit trail refuses the
// file.committed event of a commit that the metadata database recorded
// (its storage full: here a real SQLite trigger aborting the insert, in the
// relay's own database file), the agent gets no receipt but a retryable
// refusal; the retry, once the trail takes writes again, appends the event
// and only then hands out the receipt. The trail ends with exactly one
// file.committed event for the file.
func TestReceiptFollowsAuditedCommit(t *testing.T) {
	e := startRelay(t, envOptions{})
	ctx := context.Background()
	a := e.enrol(t, testProject, testSite, transport.ModeTCP)
	f := e.seal(t, a, fileSpec{id: "audited"})

	db, err := sql.Open("sqlite", e.cfg.Database.Path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	exec := func(q string) {
		t.Helper()
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec(`CREATE TRIGGER audit_full BEFORE INSERT ON audit_entries BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END`)

	_, err = a.upload(ctx, f)
	if err == nil || !transport.Retryable(err) {
		t.Fatalf("upload while the trail refuses writes: %v, want a retryable refusal", err)
	}
	r, _ := e.srv.resources()
	if _, err := r.db.GetFile(ctx, f.offer.ID); err != nil {
		t.Fatalf("the commit itself should be recorded: %v", err)
	}
	// Still refused while the trail is full: no receipt without the event.
	if _, err := a.upload(ctx, f); err == nil || !transport.Retryable(err) {
		t.Fatalf("retry while the trail refuses writes: %v, want a retryable refusal", err)
	}

	exec(`DROP TRIGGER audit_full`)
	rcpt, err := a.upload(ctx, f)
	if err != nil {
		t.Fatalf("retry once the trail takes writes: %v", err)
	}
	if rcpt.ID != f.offer.ID {
		t.Fatalf("receipt for %s", rcpt.ID)
	}
	var n int
	for _, en := range e.auditEntries(t, audit.Filter{Action: audit.ActionFileCommitted}) {
		if en.Object == f.offer.ID {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d file.committed events for the file, want 1", n)
	}
	// Later re-sends get the receipt at once, and add no event.
	if _, err := a.upload(ctx, f); err != nil {
		t.Fatalf("re-send: %v", err)
	}
	if got := len(e.auditEntries(t, audit.Filter{Action: audit.ActionFileCommitted})); got != 1 {
		t.Fatalf("%d file.committed events after a re-send, want 1", got)
	}
}

// TestLateAuditOfCommit: a relay that stops between recording a commit and
// appending its file.committed event (here: the append fails, then the
// relay forgets the pending event, as a restart would) must not hand the
// receipt to the agent's re-send without the event: it finds the trail
// lacking it and appends it, marked late with the commit's time, exactly
// once.
func TestLateAuditOfCommit(t *testing.T) {
	e := startRelay(t, envOptions{})
	ctx := context.Background()
	a := e.enrol(t, testProject, testSite, transport.ModeTCP)
	f := e.seal(t, a, fileSpec{id: "late"})

	db, err := sql.Open("sqlite", e.cfg.Database.Path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `CREATE TRIGGER audit_full BEFORE INSERT ON audit_entries BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END`); err != nil {
		t.Fatal(err)
	}
	if _, err := a.upload(ctx, f); err == nil || !transport.Retryable(err) {
		t.Fatalf("upload while the trail refuses writes: %v, want a retryable refusal", err)
	}
	e.srv.pendingAudit.mu.Lock()
	e.srv.pendingAudit.events = nil // what a restart forgets
	e.srv.pendingAudit.mu.Unlock()
	if _, err := db.ExecContext(ctx, `DROP TRIGGER audit_full`); err != nil {
		t.Fatal(err)
	}

	for range 2 {
		if _, err := a.upload(ctx, f); err != nil {
			t.Fatalf("re-send: %v", err)
		}
	}
	var late []audit.Entry
	for _, en := range e.auditEntries(t, audit.Filter{Action: audit.ActionFileCommitted}) {
		if en.Object == f.offer.ID {
			late = append(late, en)
		}
	}
	if len(late) != 1 || late[0].Details["recorded_late"] != true || late[0].Details["committed_at"] == nil {
		t.Fatalf("file.committed events for the file: %+v, want one marked late with the commit time", late)
	}
}
