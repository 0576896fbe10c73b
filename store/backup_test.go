package store_test

import (
	"path/filepath"
	"testing"
	"time"

	"dicomgate/store"
	"dicomgate/store/storetest"
)

// fillForBackup commits a file and appends audit entries.
func fillForBackup(t *testing.T, db store.MetaDB) {
	t.Helper()
	rec := store.FileRecord{FileID: "f1", Project: "p", InstanceUID: "2.25.1", ObjectKey: "k",
		SHA256: "s", PlainSHA256: "ps", Manifest: []byte("m")}
	if _, err := db.CommitFile(t.Context(), rec); err != nil {
		t.Fatal(err)
	}
	a, err := db.(store.AuditOpener).OpenAudit(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		storetest.AuditAppendSimple(t, a, time.Now(), "system", "x", "", "")
	}
}

// checkRestored checks what fillForBackup wrote is there.
func checkRestored(t *testing.T, db store.MetaDB) {
	t.Helper()
	if f, err := db.GetFile(t.Context(), "f1"); err != nil || string(f.Manifest) != "m" {
		t.Errorf("restored file = %+v, %v", f, err)
	}
	a, err := db.(store.AuditOpener).OpenAudit(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if n, err := a.AuditSize(t.Context()); err != nil || n != 3 {
		t.Errorf("restored audit size = %d, %v; want 3", n, err)
	}
	if empty, err := db.(store.Backuper).Empty(t.Context()); err != nil || empty {
		t.Errorf("Empty after restore = %v, %v", empty, err)
	}
}

func TestSQLiteBackupRestore(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "meta.db")
	db, err := store.OpenSQLite(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	if empty, err := db.Empty(t.Context()); err != nil || !empty {
		t.Fatalf("Empty of a new database = %v, %v", empty, err)
	}
	fillForBackup(t, db)
	backup := filepath.Join(dir, "backup.db")
	if err := db.Backup(t.Context(), backup); err != nil {
		t.Fatal(err)
	}
	if err := db.Backup(t.Context(), backup); err == nil {
		t.Error("Backup overwrote an existing file")
	}
	db.Close()
	path2 := filepath.Join(dir, "other", "meta.db")
	if err := store.RestoreSQLite(t.Context(), backup, path2); err != nil {
		t.Fatal(err)
	}
	db2, err := store.OpenSQLite(t.Context(), path2)
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	checkRestored(t, db2)
	if err := store.RestoreSQLite(t.Context(), filepath.Join(dir, "nope.db"), path2); err == nil {
		t.Error("RestoreSQLite of a missing file succeeded")
	}
}

func TestPostgresBackupRestore(t *testing.T) {
	srv := storetest.StartPostgres(t)
	db := openPostgres(t, srv)
	fillForBackup(t, db)
	backup := filepath.Join(t.TempDir(), "backup.pgdump")
	if err := db.Backup(t.Context(), backup); err != nil {
		t.Fatal(err)
	}
	db2 := openPostgres(t, srv) // a fresh database, schema applied
	if empty, err := db2.Empty(t.Context()); err != nil || !empty {
		t.Fatalf("Empty of a new database = %v, %v", empty, err)
	}
	if err := db2.Restore(t.Context(), backup); err != nil {
		t.Fatal(err)
	}
	checkRestored(t, db2)
}
