package store_test

import (
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"dicomgate/store"
	"dicomgate/store/storetest"
)

func TestSQLite(t *testing.T) {
	storetest.RunMetaDB(t, func(t *testing.T) store.MetaDB {
		db, err := store.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "meta.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	})
}

// TestSQLiteShared opens one file twice, as two relays on one host would,
// and races commits of one instance through both handles.
func TestSQLiteShared(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meta.db")
	var dbs [2]*store.SQLite
	for i := range dbs {
		db, err := store.OpenSQLite(t.Context(), path) // the second open finds the schema applied
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		dbs[i] = db
		if v, err := db.SchemaVersion(t.Context()); err != nil || v != 2 {
			t.Fatalf("SchemaVersion = %d, %v; want 2", v, err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Go(func() {
			rec := store.FileRecord{FileID: fmt.Sprintf("f%d", i), Project: "p", InstanceUID: "2.25.7",
				ObjectKey: "k", SHA256: fmt.Sprint(i), PlainSHA256: fmt.Sprint(i)}
			_, err := dbs[i%2].CommitFile(t.Context(), rec)
			errs <- err
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
	var mode string
	if err := sqlDB(t, path).QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v; want wal", mode, err)
	}
}

// sqlDB opens path directly, to inspect what OpenSQLite made.
func sqlDB(t *testing.T, path string) *sql.DB {
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestOpenSQLiteBadPath(t *testing.T) {
	for _, p := range []string{"", ":memory:", "file:x.db", "x.db?mode=ro"} {
		if db, err := store.OpenSQLite(t.Context(), p); err == nil {
			db.Close()
			t.Errorf("OpenSQLite(%q) succeeded", p)
		}
	}
}
