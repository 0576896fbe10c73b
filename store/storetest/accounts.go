package storetest

import (
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"dicomgate/store"
)

// RunAccountStore runs the AccountStore conformance suite. newStore must
// return a new, empty store each time it is called (once per subtest;
// subtests run in parallel) and should close it at the test's cleanup.
func RunAccountStore(t *testing.T, newStore func(t *testing.T) store.AccountStore) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.AccountStore)
	}{
		{"CreateGet", testAccountCreateGet},
		{"CreateInvalid", testAccountCreateInvalid},
		{"List", testAccountList},
		{"Update", testAccountUpdate},
		{"UpdateConcurrent", testAccountUpdateConcurrent},
		{"PasswordHistory", testAccountPasswordHistory},
		{"Grants", testAccountGrants},
		{"Sessions", testAccountSessions},
		{"EndSessionConcurrent", testAccountEndSessionConcurrent},
		{"EndAccountSessions", testAccountEndAccountSessions},
		{"Signatures", testAccountSignatures},
		{"Policies", testAccountPolicies},
		{"PutPolicyConcurrent", testAccountPutPolicyConcurrent},
		{"Approvals", testAccountApprovals},
		{"Releases", testAccountReleases},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, newStore(t))
		})
	}
}

// acctT0 is t0 in a zone other than UTC: stores return UTC, truncated to
// microseconds.
var acctT0 = t0.In(time.FixedZone("UTC+1", 3600))

// account returns a valid account named name.
func account(name string) store.Account {
	return store.Account{Name: name, FullName: "Person " + name, PasswordHash: "hash-" + name,
		MustChange: true, PasswordChangedAt: acctT0, CreatedAt: acctT0, CreatedBy: "cli"}
}

// mustCreateAccount creates account name or fails the test.
func mustCreateAccount(t *testing.T, s store.AccountStore, name string) {
	t.Helper()
	if err := s.CreateAccount(t.Context(), account(name)); err != nil {
		t.Fatalf("CreateAccount(%s): %v", name, err)
	}
}

// mustSign stores a signature by account over a record of recordType and
// recordID, returning its ID.
func mustSign(t *testing.T, s store.AccountStore, account, recordType, recordID string) int64 {
	t.Helper()
	id, err := s.PutSignature(t.Context(), store.Signature{Account: account, PrintedName: "Person " + account,
		Meaning: "approval", SignedAt: acctT0, RecordType: recordType, RecordID: recordID,
		RecordSHA256: "ab12", Seal: []byte{1, 2, 3}})
	if err != nil {
		t.Fatalf("PutSignature: %v", err)
	}
	return id
}

// checkUTC fails the test unless every time is in UTC.
func checkUTC(t *testing.T, what string, ts ...time.Time) {
	t.Helper()
	for i, tm := range ts {
		if tm.Location() != time.UTC {
			t.Errorf("%s: time %d is in %v, want UTC", what, i, tm.Location())
		}
	}
}

func testAccountCreateGet(t *testing.T, s store.AccountStore) {
	ctx := t.Context()
	a := account("ann")
	a.MustChange, a.Disabled, a.FailedLogins, a.LockedAt = false, true, 3, acctT0.Add(time.Hour)
	a.TOTPSecret, a.TOTPPending, a.TOTPLastStep = "SECRET", "PENDING", 1234567
	if err := s.CreateAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetAccount(ctx, "ann")
	if err != nil {
		t.Fatal(err)
	}
	want := a
	want.PasswordChangedAt, want.CreatedAt, want.LockedAt = us(acctT0), us(acctT0), us(acctT0.Add(time.Hour))
	if !reflect.DeepEqual(*got, want) {
		t.Errorf("GetAccount =\n%+v\nwant\n%+v", *got, want)
	}
	checkUTC(t, "GetAccount", got.PasswordChangedAt, got.CreatedAt, got.LockedAt)
	if !got.TOTPEnabled() {
		t.Error("TOTPEnabled = false with a secret")
	}

	dup := account("ann")
	dup.FullName = "Someone Else"
	if err := s.CreateAccount(ctx, dup); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("CreateAccount of a taken name: %v, want ErrConflict", err)
	}
	if got, _ := s.GetAccount(ctx, "ann"); got == nil || got.FullName != a.FullName {
		t.Errorf("the duplicate overwrote the account: %+v", got)
	}
	if _, err := s.GetAccount(ctx, "nobody"); !errors.Is(err, store.ErrNotExist) {
		t.Fatalf("GetAccount(unknown): %v, want ErrNotExist", err)
	}

	// Zero optional times stay zero; a zero CreatedAt becomes now.
	before := time.Now().Add(-time.Second)
	if err := s.CreateAccount(ctx, store.Account{Name: "bob", PasswordHash: "h"}); err != nil {
		t.Fatal(err)
	}
	bob, err := s.GetAccount(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	if !bob.PasswordChangedAt.IsZero() || !bob.LockedAt.IsZero() || bob.CreatedAt.Before(before) || bob.MustChange {
		t.Errorf("GetAccount(bob) = %+v", *bob)
	}
	checkUTC(t, "GetAccount(bob)", bob.CreatedAt)
}

func testAccountCreateInvalid(t *testing.T, s store.AccountStore) {
	ctx := t.Context()
	for _, a := range []store.Account{{PasswordHash: "h"}, {Name: "ann"}} {
		if err := s.CreateAccount(ctx, a); !errors.Is(err, store.ErrInvalidRecord) {
			t.Errorf("CreateAccount(%+v): %v, want ErrInvalidRecord", a, err)
		}
	}
	if as, err := s.ListAccounts(ctx); err != nil || len(as) != 0 {
		t.Errorf("ListAccounts after invalid creates = %v, %v", as, err)
	}
}

func testAccountList(t *testing.T, s store.AccountStore) {
	ctx := t.Context()
	if as, err := s.ListAccounts(ctx); err != nil || len(as) != 0 {
		t.Fatalf("ListAccounts of empty = %v, %v", as, err)
	}
	// Byte order, whatever the database's locale: "Zed" < "ann" < "ann.b" < "ann_b".
	for _, n := range []string{"ann_b", "zed", "ann", "Zed", "ann.b", "bob"} {
		mustCreateAccount(t, s, n)
	}
	as, err := s.ListAccounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, a := range as {
		names = append(names, a.Name)
		if a.PasswordHash != "hash-"+a.Name || !a.CreatedAt.Equal(us(acctT0)) {
			t.Errorf("listed account %+v", a)
		}
	}
	want := []string{"Zed", "ann", "ann.b", "ann_b", "bob", "zed"}
	if !reflect.DeepEqual(names, want) {
		t.Errorf("ListAccounts names = %q, want %q", names, want)
	}
}

func testAccountUpdate(t *testing.T, s store.AccountStore) {
	ctx := t.Context()
	mustCreateAccount(t, s, "ann")
	later := acctT0.Add(90 * time.Minute)
	got, err := s.UpdateAccount(ctx, "ann", func(a *store.Account) error {
		a.Name = "renamed" // ignored: Name cannot change
		a.FullName, a.PasswordHash, a.MustChange, a.PasswordChangedAt = "Ann Other", "h2", false, later
		a.Disabled, a.FailedLogins, a.LockedAt = true, 2, later
		a.TOTPSecret, a.TOTPPending, a.TOTPLastStep = "S", "P", 42
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	stored, err := s.GetAccount(ctx, "ann")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, stored) {
		t.Errorf("UpdateAccount returned\n%+v\nbut stored\n%+v", *got, *stored)
	}
	want := account("ann")
	want.FullName, want.PasswordHash, want.MustChange, want.PasswordChangedAt = "Ann Other", "h2", false, us(later)
	want.Disabled, want.FailedLogins, want.LockedAt = true, 2, us(later)
	want.TOTPSecret, want.TOTPPending, want.TOTPLastStep = "S", "P", 42
	want.CreatedAt = us(acctT0)
	if !reflect.DeepEqual(*stored, want) {
		t.Errorf("stored\n%+v\nwant\n%+v", *stored, want)
	}
	checkUTC(t, "UpdateAccount", got.PasswordChangedAt, got.LockedAt, got.CreatedAt)
	if _, err := s.GetAccount(ctx, "renamed"); !errors.Is(err, store.ErrNotExist) {
		t.Errorf("UpdateAccount renamed the account: %v", err)
	}

	// Clearing a time stores zero.
	if got, err := s.UpdateAccount(ctx, "ann", func(a *store.Account) error {
		a.LockedAt, a.FailedLogins = time.Time{}, 0
		return nil
	}); err != nil || !got.LockedAt.IsZero() || got.FailedLogins != 0 {
		t.Errorf("unlock: %+v, %v", got, err)
	}

	// An error from update aborts and is returned as is.
	errAbort := errors.New("abort")
	if _, err := s.UpdateAccount(ctx, "ann", func(a *store.Account) error {
		a.FullName = "not written"
		return errAbort
	}); err != errAbort {
		t.Errorf("UpdateAccount with a failing update: %v, want errAbort itself", err)
	}
	if _, err := s.UpdateAccount(ctx, "ann", func(a *store.Account) error {
		a.FullName, a.PasswordHash = "not written", ""
		return nil
	}); !errors.Is(err, store.ErrInvalidRecord) {
		t.Errorf("UpdateAccount to an empty hash: %v, want ErrInvalidRecord", err)
	}
	if a, _ := s.GetAccount(ctx, "ann"); a == nil || a.FullName != "Ann Other" {
		t.Errorf("an aborted update was written: %+v", a)
	}
	if _, err := s.UpdateAccount(ctx, "nobody", func(*store.Account) error { return nil }); !errors.Is(err, store.ErrNotExist) {
		t.Errorf("UpdateAccount(unknown): %v, want ErrNotExist", err)
	}
}

// testAccountUpdateConcurrent counts failed sign-ins from many goroutines,
// locking at a threshold as the relay does: no increment is lost and
// exactly one updater sees itself lock the account.
func testAccountUpdateConcurrent(t *testing.T, s store.AccountStore) {
	ctx := t.Context()
	mustCreateAccount(t, s, "ann")
	const n, threshold = 24, 5
	var wg sync.WaitGroup
	var mu sync.Mutex
	lockers := 0
	for range n {
		wg.Go(func() {
			locked := false
			_, err := s.UpdateAccount(ctx, "ann", func(a *store.Account) error {
				locked = false // update may be called again on retry
				a.FailedLogins++
				if a.FailedLogins >= threshold && a.LockedAt.IsZero() {
					a.LockedAt, locked = time.Now(), true
				}
				return nil
			})
			if err != nil {
				t.Errorf("UpdateAccount: %v", err)
				return
			}
			if locked {
				mu.Lock()
				lockers++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	a, err := s.GetAccount(ctx, "ann")
	if err != nil {
		t.Fatal(err)
	}
	if a.FailedLogins != n || a.LockedAt.IsZero() || lockers != 1 {
		t.Errorf("after %d concurrent failures: FailedLogins %d, LockedAt %v, %d lockers; want %d, set, 1",
			n, a.FailedLogins, a.LockedAt, lockers, n)
	}
}

func testAccountPasswordHistory(t *testing.T, s store.AccountStore) {
	ctx := t.Context()
	mustCreateAccount(t, s, "ann")
	mustCreateAccount(t, s, "bob")
	for _, h := range []string{"h1", "h2", "h3"} {
		if err := s.AddPasswordHistory(ctx, "ann", h, acctT0); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.AddPasswordHistory(ctx, "bob", "b1", time.Time{}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		n    int
		want []string
	}{
		{"ann", 2, []string{"h3", "h2"}},
		{"ann", 10, []string{"h3", "h2", "h1"}},
		{"ann", 0, nil},
		{"bob", 5, []string{"b1"}},
		{"nobody", 5, nil},
	} {
		got, err := s.PasswordHistory(ctx, tc.name, tc.n)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("PasswordHistory(%s, %d) = %q, %v; want %q", tc.name, tc.n, got, err, tc.want)
		}
	}
	if err := s.AddPasswordHistory(ctx, "nobody", "h", acctT0); err == nil {
		t.Error("AddPasswordHistory for an unknown account succeeded")
	}
}

func testAccountGrants(t *testing.T, s store.AccountStore) {
	ctx := t.Context()
	mustCreateAccount(t, s, "ann")
	mustCreateAccount(t, s, "bob")
	for _, g := range []store.Grant{
		{Account: "ann", Project: "trial-b", Role: "viewer"},
		{Account: "ann", Project: "*", Role: "admin"},
		{Account: "ann", Project: "trial-a", Role: "viewer"},
		{Account: "ann", Project: "trial-a", Role: "approver"},
		{Account: "bob", Project: "trial-a", Role: "viewer"},
	} {
		if err := s.PutGrant(ctx, g); err != nil {
			t.Fatalf("PutGrant(%+v): %v", g, err)
		}
	}
	admin := store.Grant{Account: "ann", Project: "*", Role: "admin"}
	if err := s.PutGrant(ctx, admin); err != nil {
		t.Fatalf("PutGrant of a held role: %v", err)
	}
	got, err := s.Grants(ctx, "ann")
	want := []store.Grant{admin,
		{Account: "ann", Project: "trial-a", Role: "approver"},
		{Account: "ann", Project: "trial-a", Role: "viewer"},
		{Account: "ann", Project: "trial-b", Role: "viewer"}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("Grants(ann) = %+v, %v; want %+v", got, err, want)
	}
	if err := s.DeleteGrant(ctx, store.Grant{Account: "ann", Project: "trial-a", Role: "viewer"}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteGrant(ctx, store.Grant{Account: "ann", Project: "trial-a", Role: "viewer"}); !errors.Is(err, store.ErrNotExist) {
		t.Errorf("DeleteGrant of a revoked role: %v, want ErrNotExist", err)
	}
	if err := s.DeleteGrant(ctx, store.Grant{Account: "ann", Project: "x", Role: "admin"}); !errors.Is(err, store.ErrNotExist) {
		t.Errorf("DeleteGrant of a role never held: %v, want ErrNotExist", err)
	}
	if got, _ := s.Grants(ctx, "ann"); len(got) != 3 {
		t.Errorf("Grants(ann) after a revoke = %+v", got)
	}
	if got, err := s.Grants(ctx, "bob"); err != nil || len(got) != 1 {
		t.Errorf("Grants(bob) = %+v, %v", got, err)
	}
	if got, err := s.Grants(ctx, "nobody"); err != nil || len(got) != 0 {
		t.Errorf("Grants(nobody) = %+v, %v", got, err)
	}
	for _, g := range []store.Grant{{Project: "*", Role: "admin"}, {Account: "ann", Role: "admin"}, {Account: "ann", Project: "*"}} {
		if err := s.PutGrant(ctx, g); !errors.Is(err, store.ErrInvalidRecord) {
			t.Errorf("PutGrant(%+v): %v, want ErrInvalidRecord", g, err)
		}
	}
	if err := s.PutGrant(ctx, store.Grant{Account: "nobody", Project: "*", Role: "admin"}); err == nil {
		t.Error("PutGrant to an unknown account succeeded")
	}
}

func testAccountSessions(t *testing.T, s store.AccountStore) {
	ctx := t.Context()
	mustCreateAccount(t, s, "ann")
	se := store.Session{ID: "s1", Account: "ann", CSRF: "csrf", IP: "192.0.2.1", CreatedAt: acctT0, LastSeen: acctT0}
	if err := s.CreateSession(ctx, se); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateSession(ctx, se); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("CreateSession of a taken ID: %v, want ErrConflict", err)
	}
	for _, bad := range []store.Session{{Account: "ann"}, {ID: "s9"}} {
		if err := s.CreateSession(ctx, bad); !errors.Is(err, store.ErrInvalidRecord) {
			t.Errorf("CreateSession(%+v): %v, want ErrInvalidRecord", bad, err)
		}
	}
	if err := s.CreateSession(ctx, store.Session{ID: "s9", Account: "nobody"}); err == nil {
		t.Error("CreateSession for an unknown account succeeded")
	}
	got, err := s.GetSession(ctx, "s1")
	want := se
	want.CreatedAt, want.LastSeen = us(acctT0), us(acctT0)
	if err != nil || !reflect.DeepEqual(*got, want) {
		t.Fatalf("GetSession = %+v, %v; want %+v", got, err, want)
	}
	checkUTC(t, "GetSession", got.CreatedAt, got.LastSeen)
	if _, err := s.GetSession(ctx, "nope"); !errors.Is(err, store.ErrNotExist) {
		t.Errorf("GetSession(unknown): %v, want ErrNotExist", err)
	}

	seen := acctT0.Add(time.Minute)
	if err := s.TouchSession(ctx, "s1", seen); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetSession(ctx, "s1"); got == nil || !got.LastSeen.Equal(us(seen)) {
		t.Errorf("LastSeen after TouchSession = %+v", got)
	}
	if err := s.TouchSession(ctx, "nope", seen); err != nil {
		t.Errorf("TouchSession(unknown): %v", err)
	}

	end := acctT0.Add(2 * time.Minute)
	if err := s.EndSession(ctx, "s1", end, "logout"); err != nil {
		t.Fatal(err)
	}
	got, err = s.GetSession(ctx, "s1")
	if err != nil || !got.EndedAt.Equal(us(end)) || got.EndReason != "logout" {
		t.Fatalf("ended session = %+v, %v", got, err)
	}
	checkUTC(t, "ended session", got.EndedAt)
	if err := s.EndSession(ctx, "s1", end.Add(time.Minute), "again"); !errors.Is(err, store.ErrStale) {
		t.Errorf("EndSession of an ended session: %v, want ErrStale", err)
	}
	if err := s.EndSession(ctx, "nope", end, "logout"); !errors.Is(err, store.ErrNotExist) {
		t.Errorf("EndSession(unknown): %v, want ErrNotExist", err)
	}
	if err := s.TouchSession(ctx, "s1", end.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetSession(ctx, "s1"); got == nil || !got.LastSeen.Equal(us(seen)) || got.EndReason != "logout" {
		t.Errorf("an ended session changed: %+v", got)
	}
}

// testAccountEndSessionConcurrent ends one session from many goroutines:
// exactly one succeeds, so exactly one caller records the end.
func testAccountEndSessionConcurrent(t *testing.T, s store.AccountStore) {
	ctx := t.Context()
	mustCreateAccount(t, s, "ann")
	if err := s.CreateSession(ctx, store.Session{ID: "s1", Account: "ann"}); err != nil {
		t.Fatal(err)
	}
	const n = 16
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs <- s.EndSession(ctx, "s1", time.Now(), fmt.Sprintf("r%d", i)) })
	}
	wg.Wait()
	close(errs)
	ok, stale := 0, 0
	for err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, store.ErrStale):
			stale++
		default:
			t.Errorf("EndSession: %v", err)
		}
	}
	if ok != 1 || stale != n-1 {
		t.Errorf("%d ended, %d stale; want 1 and %d", ok, stale, n-1)
	}
}

// testAccountEndAccountSessions signs in as the relay does (end the other
// live sessions, then create the new one): one live session at a time.
func testAccountEndAccountSessions(t *testing.T, s store.AccountStore) {
	ctx := t.Context()
	mustCreateAccount(t, s, "ann")
	mustCreateAccount(t, s, "bob")
	if err := s.CreateSession(ctx, store.Session{ID: "b1", Account: "bob", CreatedAt: acctT0, LastSeen: acctT0}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		id := fmt.Sprintf("a%d", i)
		at := acctT0.Add(time.Duration(i) * time.Minute)
		ended, err := s.EndAccountSessions(ctx, "ann", id, at, "superseded")
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 && len(ended) != 0 || i > 0 && (len(ended) != 1 || ended[0].ID != fmt.Sprintf("a%d", i-1) ||
			!ended[0].EndedAt.Equal(us(at)) || ended[0].EndReason != "superseded" || ended[0].IP != "192.0.2.1") {
			t.Fatalf("sign-in %d ended %+v", i, ended)
		}
		if err := s.CreateSession(ctx, store.Session{ID: id, Account: "ann", IP: "192.0.2.1", CreatedAt: at, LastSeen: at}); err != nil {
			t.Fatal(err)
		}
	}
	// The current session survives as except; an empty except ends all.
	if ended, err := s.EndAccountSessions(ctx, "ann", "a2", acctT0, "noop"); err != nil || len(ended) != 0 {
		t.Errorf("EndAccountSessions sparing the live one = %+v, %v", ended, err)
	}
	end := acctT0.Add(time.Hour)
	ended, err := s.EndAccountSessions(ctx, "ann", "", end, "account disabled")
	if err != nil || len(ended) != 1 || ended[0].ID != "a2" {
		t.Fatalf("EndAccountSessions(all) = %+v, %v", ended, err)
	}
	checkUTC(t, "EndAccountSessions", ended[0].EndedAt, ended[0].CreatedAt)
	if got, _ := s.GetSession(ctx, "a0"); got == nil || got.EndReason != "superseded" {
		t.Errorf("a0 = %+v; an ended session was ended again", got)
	}
	if got, _ := s.GetSession(ctx, "b1"); got == nil || !got.EndedAt.IsZero() {
		t.Errorf("another account's session was ended: %+v", got)
	}
}

func testAccountSignatures(t *testing.T, s store.AccountStore) {
	ctx := t.Context()
	mustCreateAccount(t, s, "ann")
	sig := store.Signature{Account: "ann", PrintedName: "Ann Example", Meaning: "approval", SignedAt: acctT0,
		RecordType: "policy", RecordID: "p1", RecordSHA256: "ab12", Seal: []byte{0, 1, 2, 255}}
	id, err := s.PutSignature(ctx, sig)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.GetSignature(ctx, id)
	want := sig
	want.ID, want.SignedAt = id, us(acctT0)
	if err != nil || !reflect.DeepEqual(*got, want) {
		t.Fatalf("GetSignature = %+v, %v; want %+v", got, err, want)
	}
	checkUTC(t, "GetSignature", got.SignedAt)
	if _, err := s.GetSignature(ctx, id+1000); !errors.Is(err, store.ErrNotExist) {
		t.Errorf("GetSignature(unknown): %v, want ErrNotExist", err)
	}
	id2 := mustSign(t, s, "ann", "policy", "p2")
	id3 := mustSign(t, s, "ann", "release", "p1")
	id4 := mustSign(t, s, "ann", "policy", "p1")
	if !(id < id2 && id2 < id3 && id3 < id4) {
		t.Errorf("signature IDs %d %d %d %d are not increasing", id, id2, id3, id4)
	}
	for _, tc := range []struct {
		typ, rec string
		want     []int64
	}{
		{"", "", []int64{id, id2, id3, id4}},
		{"policy", "", []int64{id, id2, id4}},
		{"policy", "p1", []int64{id, id4}},
		{"", "p1", []int64{id, id3, id4}},
		{"export", "", nil},
	} {
		sigs, err := s.ListSignatures(ctx, tc.typ, tc.rec)
		var ids []int64
		for _, sg := range sigs {
			ids = append(ids, sg.ID)
		}
		if err != nil || !reflect.DeepEqual(ids, tc.want) {
			t.Errorf("ListSignatures(%q, %q) = %v, %v; want %v", tc.typ, tc.rec, ids, err, tc.want)
		}
	}
	for _, bad := range []store.Signature{
		{Meaning: "m", RecordType: "t", RecordSHA256: "h", Seal: []byte{1}},
		{Account: "ann", RecordType: "t", RecordSHA256: "h", Seal: []byte{1}},
		{Account: "ann", Meaning: "m", RecordSHA256: "h", Seal: []byte{1}},
		{Account: "ann", Meaning: "m", RecordType: "t", Seal: []byte{1}},
		{Account: "ann", Meaning: "m", RecordType: "t", RecordSHA256: "h"},
	} {
		if _, err := s.PutSignature(ctx, bad); !errors.Is(err, store.ErrInvalidRecord) {
			t.Errorf("PutSignature(%+v): %v, want ErrInvalidRecord", bad, err)
		}
	}
	if _, err := s.PutSignature(ctx, store.Signature{Account: "nobody", Meaning: "m", RecordType: "t",
		RecordSHA256: "h", Seal: []byte{1}}); err == nil {
		t.Error("PutSignature by an unknown account succeeded")
	}
}

func testAccountPolicies(t *testing.T, s store.AccountStore) {
	ctx := t.Context()
	mustCreateAccount(t, s, "ann")
	p1 := store.PolicyRevision{PolicyID: "p", Version: 1, Hash: "aa", YAML: "y1", CreatedBy: "ann", CreatedAt: acctT0}
	rev, created, err := s.PutPolicy(ctx, p1)
	if err != nil || !created || rev.ID == 0 {
		t.Fatalf("PutPolicy = %+v, %v, %v", rev, created, err)
	}
	want := p1
	want.ID, want.CreatedAt = rev.ID, us(acctT0)
	if !reflect.DeepEqual(*rev, want) {
		t.Errorf("PutPolicy returned %+v, want %+v", *rev, want)
	}
	if got, err := s.GetPolicy(ctx, rev.ID); err != nil || !reflect.DeepEqual(*got, want) {
		t.Errorf("GetPolicy = %+v, %v; want %+v", got, err, want)
	}
	checkUTC(t, "PutPolicy", rev.CreatedAt)
	if _, err := s.GetPolicy(ctx, rev.ID+1000); !errors.Is(err, store.ErrNotExist) {
		t.Errorf("GetPolicy(unknown): %v, want ErrNotExist", err)
	}

	// The same text again is the same revision, whatever else differs.
	again, created, err := s.PutPolicy(ctx, store.PolicyRevision{PolicyID: "p", Version: 1, Hash: "aa", YAML: "y1",
		CreatedBy: "bob", CreatedAt: acctT0.Add(time.Hour)})
	if err != nil || created || !reflect.DeepEqual(*again, want) {
		t.Errorf("PutPolicy of a stored revision = %+v, %v, %v; want %+v, false", again, created, err, want)
	}
	// An unapproved version may be edited: a new revision.
	edit, created, err := s.PutPolicy(ctx, store.PolicyRevision{PolicyID: "p", Version: 1, Hash: "bb", YAML: "y1b"})
	if err != nil || !created || edit.ID <= rev.ID || edit.CreatedAt.IsZero() {
		t.Fatalf("PutPolicy of an edit = %+v, %v, %v", edit, created, err)
	}
	checkUTC(t, "PutPolicy (now)", edit.CreatedAt)
	if edit.CreatedAt != edit.CreatedAt.Truncate(time.Microsecond) {
		t.Errorf("PutPolicy CreatedAt %v is not truncated to microseconds", edit.CreatedAt)
	}

	sig := mustSign(t, s, "ann", "policy", "p")
	if err := s.PutApproval(ctx, store.PolicyApproval{Project: "trial-a", PolicyRevision: edit.ID, PolicyHash: "bb", SignatureID: sig}); err != nil {
		t.Fatal(err)
	}
	// An approved version never changes, whichever of its revisions was approved.
	if _, _, err := s.PutPolicy(ctx, store.PolicyRevision{PolicyID: "p", Version: 1, Hash: "cc", YAML: "z"}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("PutPolicy editing an approved version: %v, want ErrConflict", err)
	}
	if got, created, err := s.PutPolicy(ctx, p1); err != nil || created || got.ID != rev.ID {
		t.Errorf("PutPolicy of a stored revision of an approved version = %+v, %v, %v", got, created, err)
	}
	v2, created, err := s.PutPolicy(ctx, store.PolicyRevision{PolicyID: "p", Version: 2, Hash: "cc", YAML: "z"})
	if err != nil || !created {
		t.Fatalf("PutPolicy of a new version = %+v, %v, %v", v2, created, err)
	}
	other, _, err := s.PutPolicy(ctx, store.PolicyRevision{PolicyID: "q", Version: 1, Hash: "aa", YAML: "y1"})
	if err != nil || other.ID == rev.ID {
		t.Fatalf("PutPolicy of another policy with the same hash = %+v, %v", other, err)
	}

	ids := func(ps []store.PolicyRevision) (out []int64) {
		for _, p := range ps {
			out = append(out, p.ID)
		}
		return out
	}
	if ps, err := s.ListPolicies(ctx, ""); err != nil || !reflect.DeepEqual(ids(ps), []int64{other.ID, v2.ID, edit.ID, rev.ID}) {
		t.Errorf("ListPolicies(all) = %v, %v", ids(ps), err)
	}
	if ps, err := s.ListPolicies(ctx, "p"); err != nil || !reflect.DeepEqual(ids(ps), []int64{v2.ID, edit.ID, rev.ID}) {
		t.Errorf("ListPolicies(p) = %v, %v", ids(ps), err)
	}
	if ps, err := s.ListPolicies(ctx, "none"); err != nil || len(ps) != 0 {
		t.Errorf("ListPolicies(none) = %v, %v", ids(ps), err)
	}
	for _, bad := range []store.PolicyRevision{{Hash: "h", YAML: "y"}, {PolicyID: "p", YAML: "y"}, {PolicyID: "p", Hash: "h"}} {
		if _, _, err := s.PutPolicy(ctx, bad); !errors.Is(err, store.ErrInvalidRecord) {
			t.Errorf("PutPolicy(%+v): %v, want ErrInvalidRecord", bad, err)
		}
	}
}

// testAccountPutPolicyConcurrent stores one text from many goroutines:
// one revision is created and every caller gets it.
func testAccountPutPolicyConcurrent(t *testing.T, s store.AccountStore) {
	ctx := t.Context()
	const n = 12
	type result struct {
		id      int64
		created bool
	}
	results := make(chan result, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			rev, created, err := s.PutPolicy(ctx, store.PolicyRevision{PolicyID: "p", Version: 1, Hash: "aa", YAML: "y"})
			if err != nil {
				t.Errorf("PutPolicy: %v", err)
				return
			}
			results <- result{rev.ID, created}
		})
	}
	wg.Wait()
	close(results)
	ids, created := map[int64]bool{}, 0
	for r := range results {
		ids[r.id] = true
		if r.created {
			created++
		}
	}
	if len(ids) != 1 || created != 1 {
		t.Errorf("%d revision IDs, %d created; want 1 and 1", len(ids), created)
	}
}

func testAccountApprovals(t *testing.T, s store.AccountStore) {
	ctx := t.Context()
	mustCreateAccount(t, s, "ann")
	r1, _, err := s.PutPolicy(ctx, store.PolicyRevision{PolicyID: "p", Version: 1, Hash: "aa", YAML: "y"})
	if err != nil {
		t.Fatal(err)
	}
	r2, _, err := s.PutPolicy(ctx, store.PolicyRevision{PolicyID: "p", Version: 2, Hash: "bb", YAML: "z"})
	if err != nil {
		t.Fatal(err)
	}
	sig := mustSign(t, s, "ann", "policy", "p")
	as := []store.PolicyApproval{
		{Project: "trial-b", PolicyRevision: r1.ID, PolicyHash: "aa", SignatureID: sig, ApprovedAt: acctT0.Add(time.Minute)},
		{Project: "trial-a", PolicyRevision: r1.ID, PolicyHash: "aa", SignatureID: sig, ApprovedAt: acctT0},
		{Project: "trial-a", PolicyRevision: r2.ID, PolicyHash: "bb", SignatureID: sig, ApprovedAt: acctT0.Add(time.Hour)},
	}
	for _, a := range as {
		if err := s.PutApproval(ctx, a); err != nil {
			t.Fatalf("PutApproval(%+v): %v", a, err)
		}
	}
	dup := as[1]
	dup.ApprovedAt, dup.SignatureID = acctT0.Add(2*time.Hour), mustSign(t, s, "ann", "policy", "p")
	if err := s.PutApproval(ctx, dup); !errors.Is(err, store.ErrConflict) {
		t.Errorf("PutApproval of an approved revision: %v, want ErrConflict", err)
	}
	norm := func(a store.PolicyApproval) store.PolicyApproval { a.ApprovedAt = us(a.ApprovedAt); return a }
	got, err := s.ListApprovals(ctx, "")
	if want := []store.PolicyApproval{norm(as[1]), norm(as[0]), norm(as[2])}; err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("ListApprovals(all) = %+v, %v; want %+v", got, err, want)
	}
	for _, a := range got {
		checkUTC(t, "ListApprovals", a.ApprovedAt)
	}
	got, err = s.ListApprovals(ctx, "trial-a")
	if want := []store.PolicyApproval{norm(as[1]), norm(as[2])}; err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("ListApprovals(trial-a) = %+v, %v; want %+v", got, err, want)
	}
	if got, err := s.ListApprovals(ctx, "none"); err != nil || len(got) != 0 {
		t.Errorf("ListApprovals(none) = %+v, %v", got, err)
	}
	for _, bad := range []store.PolicyApproval{
		{PolicyRevision: r1.ID, PolicyHash: "aa", SignatureID: sig},
		{Project: "x", PolicyRevision: r1.ID, SignatureID: sig},
		{Project: "x", PolicyRevision: r1.ID, PolicyHash: "aa"},
	} {
		if err := s.PutApproval(ctx, bad); !errors.Is(err, store.ErrInvalidRecord) {
			t.Errorf("PutApproval(%+v): %v, want ErrInvalidRecord", bad, err)
		}
	}
	if err := s.PutApproval(ctx, store.PolicyApproval{Project: "x", PolicyRevision: r2.ID + 1000, PolicyHash: "aa", SignatureID: sig}); err == nil {
		t.Error("PutApproval of an unknown revision succeeded")
	}
}

func testAccountReleases(t *testing.T, s store.AccountStore) {
	ctx := t.Context()
	mustCreateAccount(t, s, "ann")
	sig := mustSign(t, s, "ann", "release", "1.2")
	rs := []store.StudyRelease{
		{Project: "trial-a", StudyUID: "1.2.3", SignatureID: sig, ReleasedAt: acctT0.Add(time.Minute)},
		{Project: "trial-a", StudyUID: "1.2", SignatureID: sig, ReleasedAt: acctT0},
		{Project: "trial-b", StudyUID: "1.2", SignatureID: sig, ReleasedAt: acctT0},
	}
	for _, r := range rs {
		if err := s.PutRelease(ctx, r); err != nil {
			t.Fatalf("PutRelease(%+v): %v", r, err)
		}
	}
	if err := s.PutRelease(ctx, store.StudyRelease{Project: "trial-a", StudyUID: "1.2", SignatureID: sig}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("PutRelease of a released study: %v, want ErrConflict", err)
	}
	norm := func(r store.StudyRelease) store.StudyRelease { r.ReleasedAt = us(r.ReleasedAt); return r }
	got, err := s.ListReleases(ctx, "trial-a")
	if want := []store.StudyRelease{norm(rs[1]), norm(rs[0])}; err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("ListReleases(trial-a) = %+v, %v; want %+v", got, err, want)
	}
	for _, r := range got {
		checkUTC(t, "ListReleases", r.ReleasedAt)
	}
	if got, err := s.ListReleases(ctx, "none"); err != nil || len(got) != 0 {
		t.Errorf("ListReleases(none) = %+v, %v", got, err)
	}
	for _, bad := range []store.StudyRelease{
		{StudyUID: "1", SignatureID: sig}, {Project: "x", SignatureID: sig}, {Project: "x", StudyUID: "1"},
	} {
		if err := s.PutRelease(ctx, bad); !errors.Is(err, store.ErrInvalidRecord) {
			t.Errorf("PutRelease(%+v): %v, want ErrInvalidRecord", bad, err)
		}
	}
	if err := s.PutRelease(ctx, store.StudyRelease{Project: "x", StudyUID: "1", SignatureID: sig + 1000}); err == nil {
		t.Error("PutRelease with an unknown signature succeeded")
	}
}

// AccountSharedCounter creates an account through the first of stores
// (handles on one database, as relays sharing it hold) and counts failed
// sign-ins through all of them at once: no increment may be lost.
func AccountSharedCounter(t *testing.T, stores ...store.AccountStore) {
	t.Helper()
	ctx := t.Context()
	if err := stores[0].CreateAccount(ctx, store.Account{Name: "shared", PasswordHash: "h"}); err != nil {
		t.Fatal(err)
	}
	const n = 40
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if _, err := stores[i%len(stores)].UpdateAccount(ctx, "shared", func(a *store.Account) error {
				a.FailedLogins++
				return nil
			}); err != nil {
				t.Errorf("UpdateAccount: %v", err)
			}
		})
	}
	wg.Wait()
	for i, s := range stores {
		if a, err := s.GetAccount(ctx, "shared"); err != nil || a.FailedLogins != n {
			t.Errorf("store %d: GetAccount = %+v, %v; want FailedLogins %d", i, a, err, n)
		}
	}
}
