package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"dicomgate/internal/demo"
	"dicomgate/store"
)

// TestBackupRestore runs the demo, backs its relay database up with
// `dicomgate backup`, wipes the database, restores it with `dicomgate
// restore` (which verifies the audit trail), and checks the file list is
// identical and `dicomgate audit verify` passes. A restore over a
// non-empty database without --force is refused.
func TestBackupRestore(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	res, err := demo.Run(ctx, demo.Options{WorkDir: dir, Patients: 2, Slices: 6})
	if err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(dir, "relay.yaml")
	dbPath := filepath.Join(dir, "relay", "meta.db")
	before := listFiles(t, dbPath)
	if len(before) != res.Committed || len(before) == 0 {
		t.Fatalf("%d files in the database, %d committed", len(before), res.Committed)
	}
	dg := func(args ...string) (string, error) {
		out, err := exec.Command(binary, args...).CombinedOutput()
		return string(out), err
	}
	backup := filepath.Join(t.TempDir(), "relay.backup")
	if out, err := dg("backup", "--config", config, "--out", backup); err != nil {
		t.Fatalf("backup: %v\n%s", err, out)
	}
	if out, err := dg("restore", "--config", config, "--from", backup); err == nil || !strings.Contains(out, "not empty") {
		t.Fatalf("restore over a live database without --force: %v\n%s", err, out)
	}

	for _, suffix := range []string{"", "-wal", "-shm"} { // wipe
		if err := os.Remove(dbPath + suffix); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
	out, err := dg("restore", "--config", config, "--from", backup)
	if err != nil || !strings.Contains(out, "verified:") {
		t.Fatalf("restore: %v\n%s", err, out)
	}
	t.Logf("restore:\n%s", out)
	if after := listFiles(t, dbPath); !reflect.DeepEqual(after, before) {
		t.Fatalf("restored file list differs: %d files, want %d", len(after), len(before))
	}
	if out, err := dg("audit", "verify", "--config", config); err != nil {
		t.Fatalf("audit verify after restore: %v\n%s", err, out)
	}
	if out, err := dg("restore", "--config", config, "--from", backup, "--force"); err != nil {
		t.Fatalf("restore --force: %v\n%s", err, out)
	}
}

// listFiles lists the demo project's file records.
func listFiles(t *testing.T, path string) []store.FileRecord {
	t.Helper()
	db, err := store.OpenSQLite(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	studies, err := db.ListStudies(t.Context(), "demo")
	if err != nil {
		t.Fatal(err)
	}
	var out []store.FileRecord
	for _, st := range studies {
		fs, err := db.ListFiles(t.Context(), "demo", st.StudyUID)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, fs...)
	}
	return out
}
