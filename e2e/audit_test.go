package e2e

import (
	"context"
	"database/sql"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"dicomgate/internal/demo"
)

// TestAuditTrailTamper runs the demo, then checks the relay's audit trail
// with `dicomgate audit verify`: it verifies untouched, records the
// transfer, and after an edit, deletion, insertion or reordering done
// directly in SQLite the command exits non-zero naming the entry.
func TestAuditTrailTamper(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	res, err := demo.Run(ctx, demo.Options{WorkDir: dir, Patients: 1, Slices: 4})
	if err != nil {
		t.Fatal(err)
	}
	verify := func() (string, error) {
		out, err := exec.Command(binary, "audit", "verify", "--config", filepath.Join(dir, "relay.yaml")).CombinedOutput()
		return string(out), err
	}
	out, err := verify()
	if err != nil {
		t.Fatalf("untouched trail: %v\n%s", err, out)
	}
	exp, err := exec.Command(binary, "audit", "export", "--config", filepath.Join(dir, "relay.yaml"), "--format", "csv", "--action", "file.committed").Output()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(string(exp), "file.committed"); got != res.Committed {
		t.Errorf("export lists %d file.committed events for %d committed files", got, res.Committed)
	}
	for _, s := range []string{"PHI-", "DICM"} {
		if strings.Contains(string(exp), s) {
			t.Errorf("audit export contains %q", s)
		}
	}

	tampers := []struct {
		name, sql string
		entry     string
	}{
		{"edit", `UPDATE audit_entries SET data = CAST(replace(CAST(data AS TEXT), '"actor":"', '"actor":"x') AS BLOB) WHERE idx = 5`, "entry 5"},
		{"delete", `DELETE FROM audit_entries WHERE idx = 3`, "entry 3"},
		{"reorder", `UPDATE audit_entries SET idx = CASE idx WHEN 7 THEN -7 ELSE idx END WHERE idx = 7;
			UPDATE audit_entries SET idx = 7 WHERE idx = 8; UPDATE audit_entries SET idx = 8 WHERE idx = -7`, "entry 7"},
	}
	for _, tc := range tampers {
		t.Run(tc.name, func(t *testing.T) {
			copyDir := t.TempDir()
			// Work on a copy of the relay folder so each tamper is alone.
			if out, err := exec.Command("cp", "-a", filepath.Join(dir, "relay"), filepath.Join(dir, "relay.yaml"), copyDir).CombinedOutput(); err != nil {
				t.Fatalf("copy: %v %s", err, out)
			}
			db, err := sql.Open("sqlite", filepath.Join(copyDir, "relay", "meta.db"))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := db.Exec(tc.sql); err != nil {
				t.Fatalf("tamper: %v", err)
			}
			db.Close()
			cmd := exec.Command(binary, "audit", "verify", "--config", filepath.Join(copyDir, "relay.yaml"))
			cmd.Dir = copyDir
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("verify passed after %s:\n%s", tc.name, out)
			}
			if !strings.Contains(string(out), tc.entry) {
				t.Errorf("verify output does not name %s:\n%s", tc.entry, out)
			}
		})
	}
}
