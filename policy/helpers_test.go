package policy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// testSecret is a valid compile secret.
const testSecret = "0123456789abcdef0123456789abcdef"

// subjectsCSV is a small valid lookup table.
const subjectsCSV = "id_old,id_new\nMRN1,SUBJ-1\nMRN2,SUBJ-2\n"

// writeDir writes files (name → content) into a new temporary folder.
func writeDir(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// y trims the leading newline of a raw-string YAML literal, so line 1 of
// the policy is the first line after the backquote.
func y(s string) string { return strings.TrimPrefix(s, "\n") }

// mustParse parses src with subjects.csv available, failing the test on
// any problem.
func mustParse(t testing.TB, src string) *Policy {
	t.Helper()
	dir := writeDir(t, map[string]string{"subjects.csv": subjectsCSV})
	p, err := Parse("p.yaml", []byte(src), dir)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return p
}
