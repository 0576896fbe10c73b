package relay

import (
	"bufio"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// part11Requirements are the rows docs/part11.md must have.
func part11Requirements() []string {
	return []string{"11.10(a)", "11.10(b)", "11.10(c)", "11.10(d)", "11.10(e)", "11.10(f)", "11.10(g)", "11.10(h)",
		"11.10(i)", "11.10(j)", "11.10(k)", "11.30", "11.50", "11.70", "11.100", "11.200",
		"11.300(a)", "11.300(b)", "11.300(c)", "11.300(d)", "11.300(e)"}
}

// TestPart11Matrix parses the traceability matrix in docs/part11.md and
// fails if a requirement has no row, or a row names a test function that
// does not exist in the repository. Rows without tests must say
// "procedural".
func TestPart11Matrix(t *testing.T) {
	root := filepath.Join("..")
	f, err := os.Open(filepath.Join(root, "docs", "part11.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows := map[string][]string{}
	reqRe := regexp.MustCompile(`^11\.\d+(\([a-k]\))?`)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		cells := strings.Split(strings.TrimSpace(sc.Text()), "|")
		if len(cells) != 5 {
			continue
		}
		req := reqRe.FindString(strings.TrimSpace(cells[1]))
		if req == "" {
			continue
		}
		var tests []string
		for _, name := range strings.Split(cells[3], ",") {
			if name = strings.TrimSpace(name); name != "" && name != "—" {
				tests = append(tests, name)
			}
		}
		if len(tests) == 0 && !strings.Contains(cells[2], "procedural") {
			t.Errorf("%s: no test and not marked procedural", req)
		}
		rows[req] = tests
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	for _, req := range part11Requirements() {
		if _, ok := rows[req]; !ok {
			t.Errorf("docs/part11.md has no row for %s", req)
		}
	}
	defined := testFunctions(t, root)
	for req, tests := range rows {
		for _, name := range tests {
			if !defined[name] {
				t.Errorf("%s names %s, which is not a test function in the repository", req, name)
			}
		}
	}
}

// testFunctions returns the names of every Test function in the
// repository's _test.go files.
func testFunctions(t *testing.T, root string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "testdata" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		file, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return nil // someone else's file mid-edit: its tests are not counted
		}
		for _, decl := range file.Decls {
			if fn, ok := decl.(*ast.FuncDecl); ok && fn.Recv == nil && strings.HasPrefix(fn.Name.Name, "Test") {
				out[fn.Name.Name] = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
