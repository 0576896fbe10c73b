package store

import (
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

// TestIsFull: a real ENOSPC (a write to /dev/full) and a real SQLITE_FULL
// (an insert past the database's page limit) are storage full, wrapped
// or not; other failures are not.
func TestIsFull(t *testing.T) {
	full := map[string]error{
		"postgres 53100": fmt.Errorf("store: commit: %w", &pgconn.PgError{Code: pgDiskFull}),
	}
	if f, err := os.OpenFile("/dev/full", os.O_WRONLY, 0); err == nil {
		_, werr := f.Write([]byte("x"))
		f.Close()
		full["write to /dev/full"] = fmt.Errorf("store: put k: %w", werr)
	} else {
		t.Logf("no /dev/full here: %v", err)
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "f.db")+"?_pragma=max_page_count(8)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(`CREATE TABLE t (v BLOB)`); err != nil {
		t.Fatal(err)
	}
	var serr error
	for range 100 {
		if _, serr = db.Exec(`INSERT INTO t VALUES (zeroblob(4096))`); serr != nil {
			break
		}
	}
	full["sqlite past max_page_count"] = fmt.Errorf("store: commit file: %w", serr)
	for name, err := range full {
		if !IsFull(err) {
			t.Errorf("%s: IsFull(%v) = false", name, err)
		}
	}
	for _, err := range []error{nil, ErrNotExist, errors.New("disk on fire"), os.ErrPermission,
		&pgconn.PgError{Code: pgUniqueViolation}} {
		if IsFull(err) {
			t.Errorf("IsFull(%v) = true", err)
		}
	}
}
