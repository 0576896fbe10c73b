package store

import (
	"path/filepath"
	"sync"
	"testing"
)

// A transaction holds SQLite's one connection: it runs a query that is not
// cached yet unprepared (a prepare would wait for that connection), and the
// statement is cached once the transaction ends, for the next one to bind.
// Concurrent transactions and plain queries must not deadlock on the cache.
func TestStmtTxCachesAfterCommit(t *testing.T) {
	ctx := t.Context()
	s, err := OpenSQLite(ctx, filepath.Join(t.TempDir(), "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	d := s.db
	if _, err := d.ExecContext(ctx, `CREATE TABLE kv (k INTEGER PRIMARY KEY, v TEXT)`); err != nil {
		t.Fatal(err)
	}
	const insert = `INSERT INTO kv (k, v) VALUES (?, ?)`
	isCached := func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		_, ok := d.stmts[insert]
		return ok
	}
	tx, err := d.beginTx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, insert, 1, "a"); err != nil {
		t.Fatal(err)
	}
	if isCached() {
		t.Fatal("prepared for the cache while the transaction held the connection")
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if !isCached() {
		t.Fatal("not cached after the transaction ended")
	}

	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 25 {
				k := 100 + w*100 + i
				tx, err := d.beginTx(ctx)
				if err != nil {
					t.Error(err)
					return
				}
				_, err = tx.ExecContext(ctx, insert, k, "x")
				if err == nil {
					var n int
					// A query text the cache has not seen, inside the transaction.
					err = tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM kv WHERE k <= ?`, k).Scan(&n)
				}
				if err != nil {
					tx.Rollback()
					t.Error(err)
					return
				}
				if err := tx.Commit(); err != nil {
					t.Error(err)
					return
				}
				var v string
				if err := d.QueryRowContext(ctx, `SELECT v FROM kv WHERE k = ?`, k).Scan(&v); err != nil || v != "x" {
					t.Errorf("row %d: %q, %v", k, v, err)
				}
			}
		})
	}
	wg.Wait()
	var n int
	if err := d.QueryRowContext(ctx, `SELECT COUNT(*) FROM kv`).Scan(&n); err != nil || n != 101 {
		t.Fatalf("%d rows (%v), want 101", n, err)
	}
}
