package store_test

import (
	"path/filepath"
	"testing"

	"dicomgate/store"
	"dicomgate/store/storetest"
)

func TestSQLiteAccounts(t *testing.T) {
	storetest.RunAccountStore(t, func(t *testing.T) store.AccountStore {
		db, err := store.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "meta.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		a, err := db.Accounts(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return a
	})
}

// TestSQLiteAccountsShared counts failed sign-ins through two handles on
// one file, as two relays on one host would: no increment is lost, and
// the account schema leaves the metadata schema version alone.
func TestSQLiteAccountsShared(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meta.db")
	var accts [2]store.AccountStore
	for i := range accts {
		db, err := store.OpenSQLite(t.Context(), path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		if accts[i], err = db.OpenAccounts(t.Context()); err != nil {
			t.Fatal(err)
		}
		if v, err := db.SchemaVersion(t.Context()); err != nil || v != 2 {
			t.Fatalf("SchemaVersion = %d, %v; want 2 (the accounts track is separate)", v, err)
		}
	}
	storetest.AccountSharedCounter(t, accts[0], accts[1])
}
