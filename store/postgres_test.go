package store_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"dicomgate/store"
	"dicomgate/store/storetest"
)

// openPostgres opens a fresh database on srv, closed at the test's end.
func openPostgres(t *testing.T, srv *storetest.PostgresServer) *store.Postgres {
	t.Helper()
	db, err := store.OpenPostgres(t.Context(), srv.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestPostgres(t *testing.T) {
	srv := storetest.StartPostgres(t)
	storetest.RunMetaDB(t, func(t *testing.T) store.MetaDB { return openPostgres(t, srv) })
}

func TestPostgresAudit(t *testing.T) {
	srv := storetest.StartPostgres(t)
	storetest.RunAuditStore(t, func(t *testing.T) store.AuditStore {
		a, err := openPostgres(t, srv).Audit(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return a
	})
}

func TestPostgresAccounts(t *testing.T) {
	srv := storetest.StartPostgres(t)
	storetest.RunAccountStore(t, func(t *testing.T) store.AccountStore {
		a, err := openPostgres(t, srv).Accounts(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return a
	})
}

// TestPostgresAccountsShared opens one database's account store through
// two pools at once, as two relays would (each account migration applies
// once), then counts failed sign-ins through both.
func TestPostgresAccountsShared(t *testing.T) {
	srv := storetest.StartPostgres(t)
	dsn := srv.NewDatabase(t)
	var accts [2]store.AccountStore
	var wg sync.WaitGroup
	for i := range accts {
		wg.Go(func() {
			db, err := store.OpenPostgres(t.Context(), dsn)
			if err != nil {
				t.Error(err)
				return
			}
			t.Cleanup(func() { db.Close() })
			if accts[i], err = db.OpenAccounts(t.Context()); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	storetest.AccountSharedCounter(t, accts[0], accts[1])
}

// TestPostgresShared opens one database through two pools, as two relays
// would, migrating concurrently, then races commits of one instance and
// audit appends through both.
func TestPostgresShared(t *testing.T) {
	srv := storetest.StartPostgres(t)
	dsn := srv.NewDatabase(t)
	var dbs [2]*store.Postgres
	var auds [2]store.AuditStore
	var wg sync.WaitGroup
	for i := range dbs {
		wg.Go(func() { // both relays start at once: each migration applies once
			db, err := store.OpenPostgres(t.Context(), dsn)
			if err != nil {
				t.Error(err)
				return
			}
			t.Cleanup(func() { db.Close() })
			a, err := db.Audit(t.Context())
			if err != nil {
				t.Error(err)
				return
			}
			dbs[i], auds[i] = db, a
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	if v, err := dbs[0].SchemaVersion(t.Context()); err != nil || v != 2 {
		t.Fatalf("SchemaVersion = %d, %v; want 2", v, err)
	}
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Go(func() {
			rec := store.FileRecord{FileID: fmt.Sprintf("f%d", i), Project: "p", InstanceUID: "2.25.7",
				ObjectKey: "k", SHA256: fmt.Sprint(i), PlainSHA256: fmt.Sprint(i)}
			_, err := dbs[i%2].CommitFile(t.Context(), rec)
			errs <- err
		})
	}
	const n = 100
	for i := range n {
		wg.Go(func() {
			storetest.AuditAppendSimple(t, auds[i%2], time.Now(), fmt.Sprintf("relay%d", i%2), "x", "", "")
		})
	}
	wg.Wait()
	close(errs)
	ok, conflicts := 0, 0
	for err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, store.ErrConflict):
			conflicts++
		default:
			t.Errorf("CommitFile: %v", err)
		}
	}
	if ok != 1 || conflicts != 19 {
		t.Errorf("%d inserted, %d conflicts; want 1 and 19", ok, conflicts)
	}
	es, err := auds[1].ReadAudit(t.Context(), 0, n+10)
	if err != nil || len(es) != n {
		t.Fatalf("ReadAudit = %d entries, %v; want %d", len(es), err, n)
	}
	for i, e := range es {
		if e.Index != int64(i) {
			t.Fatalf("entry %d has index %d", i, e.Index)
		}
	}
}

func TestOpenPostgresBadDSN(t *testing.T) {
	_, err := store.OpenPostgres(t.Context(), "postgres://u:hunter2@[::1")
	if err == nil {
		t.Fatal("OpenPostgres accepted a malformed DSN")
	}
	if s := err.Error(); strings.Contains(s, "hunter2") {
		t.Errorf("error leaks the password: %s", s)
	}
}
