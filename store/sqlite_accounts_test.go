package store_test

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"dicomgate/store"
)

func TestSQLiteAccounts(t *testing.T) {
	ctx := t.Context()
	db, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	st, err := db.Accounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	a := store.Account{Name: "ann", FullName: "Ann Example", PasswordHash: "h1", MustChange: true, CreatedAt: now, CreatedBy: "cli"}
	if err := st.CreateAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateAccount(ctx, a); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("duplicate account: %v", err)
	}
	if _, err := st.GetAccount(ctx, "nobody"); !errors.Is(err, store.ErrNotExist) {
		t.Fatalf("unknown account: %v", err)
	}
	got, err := st.UpdateAccount(ctx, "ann", func(a *store.Account) error { a.FailedLogins = 2; a.LockedAt = now; return nil })
	if err != nil || got.FailedLogins != 2 || !got.LockedAt.Equal(now) {
		t.Fatalf("update: %+v %v", got, err)
	}
	for _, h := range []string{"h1", "h2", "h3"} {
		if err := st.AddPasswordHistory(ctx, "ann", h, now); err != nil {
			t.Fatal(err)
		}
	}
	if hist, _ := st.PasswordHistory(ctx, "ann", 2); len(hist) != 2 || hist[0] != "h3" {
		t.Fatalf("history %v", hist)
	}
	g := store.Grant{Account: "ann", Project: "*", Role: "admin"}
	if err := st.PutGrant(ctx, g); err != nil {
		t.Fatal(err)
	}
	if err := st.PutGrant(ctx, g); err != nil {
		t.Fatalf("grant twice: %v", err)
	}
	if err := st.DeleteGrant(ctx, store.Grant{Account: "ann", Project: "x", Role: "admin"}); !errors.Is(err, store.ErrNotExist) {
		t.Fatalf("revoke unheld: %v", err)
	}
	for _, id := range []string{"s1", "s2"} {
		if err := st.CreateSession(ctx, store.Session{ID: id, Account: "ann", CreatedAt: now, LastSeen: now}); err != nil {
			t.Fatal(err)
		}
	}
	ended, err := st.EndAccountSessions(ctx, "ann", "s2", now, "superseded")
	if err != nil || len(ended) != 1 || ended[0].ID != "s1" {
		t.Fatalf("end sessions: %v %v", ended, err)
	}
	if err := st.EndSession(ctx, "s1", now, "again"); !errors.Is(err, store.ErrStale) {
		t.Fatalf("end ended session: %v", err)
	}
	rev, created, err := st.PutPolicy(ctx, store.PolicyRevision{PolicyID: "p", Version: 1, Hash: "aa", YAML: "y"})
	if err != nil || !created {
		t.Fatal(err)
	}
	if again, created, _ := st.PutPolicy(ctx, store.PolicyRevision{PolicyID: "p", Version: 1, Hash: "aa", YAML: "y"}); created || again.ID != rev.ID {
		t.Fatal("same policy stored twice")
	}
	sigID, err := st.PutSignature(ctx, store.Signature{Account: "ann", Meaning: "approval", RecordType: "t", RecordSHA256: "bb", Seal: []byte{1}})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.PutApproval(ctx, store.PolicyApproval{Project: "x", PolicyRevision: rev.ID, PolicyHash: "aa", SignatureID: sigID}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.PutPolicy(ctx, store.PolicyRevision{PolicyID: "p", Version: 1, Hash: "cc", YAML: "z"}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("edit of an approved version: %v", err)
	}
	if err := st.PutRelease(ctx, store.StudyRelease{Project: "x", StudyUID: "1.2", SignatureID: sigID}); err != nil {
		t.Fatal(err)
	}
	if err := st.PutRelease(ctx, store.StudyRelease{Project: "x", StudyUID: "1.2", SignatureID: sigID}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second release: %v", err)
	}
}
