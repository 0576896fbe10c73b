package store_test

import (
	"fmt"
	"math/bits"
	"path/filepath"
	"testing"
	"time"

	"dicomgate/store"
	"dicomgate/store/storetest"
)

// Sizing benchmarks: one CommitFile, and one audit append shaped like
// package audit's (read ~log2(n) stored hashes, write the entry and two
// hashes), on SQLite (WAL, synchronous FULL) and on PostgreSQL with
// fsync on, as in production. Multiply ns/op by 1000 for "1,000 commits".
//
//	go test ./store -run '^$' -bench 'CommitFile|AuditAppend' -benchtime 1000x

func benchBackends(b *testing.B, fn func(b *testing.B, db store.MetaDB, a store.AuditStore)) {
	b.Run("sqlite", func(b *testing.B) {
		db, err := store.OpenSQLite(b.Context(), filepath.Join(b.TempDir(), "meta.db"))
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		a, err := db.Audit(b.Context())
		if err != nil {
			b.Fatal(err)
		}
		fn(b, db, a)
	})
	b.Run("postgres", func(b *testing.B) {
		srv := storetest.StartPostgresWith(b, storetest.PostgresOptions{Durable: true})
		db, err := store.OpenPostgres(b.Context(), srv.NewDatabase(b))
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		a, err := db.Audit(b.Context())
		if err != nil {
			b.Fatal(err)
		}
		fn(b, db, a)
	})
}

func BenchmarkCommitFile(b *testing.B) {
	benchBackends(b, func(b *testing.B, db store.MetaDB, _ store.AuditStore) {
		manifest := make([]byte, 1500) // a typical signed manifest
		i := 0
		for b.Loop() {
			i++
			_, err := db.CommitFile(b.Context(), store.FileRecord{
				FileID: fmt.Sprintf("f%08d", i), Project: "p", Site: "s", AgentID: "a",
				StudyUID: fmt.Sprintf("2.25.%d", i/100), SeriesUID: fmt.Sprintf("2.25.%d.1", i/100),
				InstanceUID: fmt.Sprintf("2.25.%d.1.%d", i/100, i), ObjectKey: fmt.Sprintf("p/objects/f%08d", i),
				Size: 500_000, SHA256: fmt.Sprintf("%064x", i), PlainSHA256: fmt.Sprintf("%064x", i),
				Manifest: manifest, Receipt: make([]byte, 200)})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkAuditAppend(b *testing.B) {
	benchBackends(b, func(b *testing.B, _ store.MetaDB, a store.AuditStore) {
		data := make([]byte, 600) // a typical canonical event
		hash := make([]byte, 32)
		for b.Loop() {
			_, err := a.AppendAudit(b.Context(), func(n int64, hashes store.AuditHashReader) (store.AuditAppend, error) {
				var ids []int64
				for k := range bits.Len64(uint64(n)) {
					ids = append(ids, 2*n-int64(1)<<k) // ~log2(n) earlier hash ids
				}
				if len(ids) > 0 {
					if _, err := hashes(ids); err != nil {
						return store.AuditAppend{}, err
					}
				}
				return store.AuditAppend{
					Entry:     store.AuditEntry{Index: n, Time: time.Now(), Actor: "agent-1", Action: "file.committed", Project: "p", Data: data},
					HashStart: 2*n + 1,
					Hashes:    [][]byte{hash, hash},
				}, nil
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
}
