package store_test

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"dicomgate/store"
	"dicomgate/store/storetest"
)

func TestSQLiteAudit(t *testing.T) {
	storetest.RunAuditStore(t, func(t *testing.T) store.AuditStore {
		a, err := store.OpenSQLiteAudit(t.Context(), filepath.Join(t.TempDir(), "meta.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { a.Close() })
		return a
	})
}

// TestSQLiteAuditShared appends through two handles on one file, as two
// relays on one host would, and checks the indexes are dense and unique;
// it also checks the audit schema leaves the metadata schema version alone.
func TestSQLiteAuditShared(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meta.db")
	meta, err := store.OpenSQLite(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { meta.Close() })
	shared, err := meta.Audit(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	other, err := store.OpenSQLiteAudit(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	if v, err := meta.SchemaVersion(t.Context()); err != nil || v != 2 {
		t.Fatalf("SchemaVersion = %d, %v; want 2 (the audit track is separate)", v, err)
	}
	const n = 100
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			s := []store.AuditStore{shared, other}[i%2]
			storetest.AuditAppendSimple(t, s, time.Now(), fmt.Sprintf("relay%d", i%2), "x", "", "")
		})
	}
	wg.Wait()
	es, err := other.ReadAudit(t.Context(), 0, n+10)
	if err != nil || len(es) != n {
		t.Fatalf("ReadAudit = %d entries, %v; want %d", len(es), err, n)
	}
	for i, e := range es {
		if e.Index != int64(i) {
			t.Fatalf("entry %d has index %d", i, e.Index)
		}
	}
	if err := shared.Close(); err != nil { // a shared view's Close leaves meta open
		t.Fatal(err)
	}
	if _, err := meta.SchemaVersion(t.Context()); err != nil {
		t.Fatalf("meta closed by the shared audit view: %v", err)
	}
}
