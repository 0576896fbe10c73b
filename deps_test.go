package dicomgate_test

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

// allowedImports is DESIGN.md's package table: which of our packages each
// package may import. Subpackages count as their top folder; internal/
// helpers are listed on their own.
func allowedImports() map[string][]string {
	return map[string][]string{
		"anonymize":          {},
		"policy":             {"anonymize"},
		"seal":               {},
		"transport":          {"seal"},
		"agent":              {"anonymize", "policy", "seal", "transport", "dimse"},
		"relay":              {"transport", "store", "audit", "policy", "seal"},
		"store":              {},
		"audit":              {"store"},
		"dimse":              {},
		"internal/dicomtest": {},
		"internal/progress":  {},
		"internal/batch":     {"anonymize"},
		"internal/demo":      {"*"},
		"cmd":                {"*"},
		"configs":            {},
		"e2e":                {"*"},
		"internal/forward":   {"dimse"},
	}
}

// TestImportTable enforces the import table of DESIGN.md.
func TestImportTable(t *testing.T) {
	out, err := exec.Command("go", "list", "-e", "-json=ImportPath,Imports,TestImports,XTestImports", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	allowed := allowedImports()
	seen := 0
	for dec.More() {
		var p struct {
			ImportPath                         string
			Imports, TestImports, XTestImports []string
		}
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		from := owner(p.ImportPath)
		if from == "" || from == "." {
			continue
		}
		seen++
		rules, ok := allowed[from]
		if !ok {
			t.Errorf("package %s is not in the import table of DESIGN.md", p.ImportPath)
			continue
		}
		for _, imp := range p.Imports {
			if !strings.HasPrefix(imp, "dicomgate/") {
				continue
			}
			to := owner(imp)
			if to == from || contains(rules, "*") || contains(rules, to) {
				continue
			}
			t.Errorf("%s imports %s: not allowed by DESIGN.md (allowed: %v)", p.ImportPath, imp, rules)
		}
	}
	if seen < 3 {
		t.Fatalf("only %d packages listed; is go list working?", seen)
	}
}

// owner maps an import path to its row of the table.
func owner(path string) string {
	rel := strings.TrimPrefix(path, "dicomgate")
	rel = strings.TrimPrefix(rel, "/")
	if rel == "" {
		return "."
	}
	parts := strings.Split(rel, "/")
	switch parts[0] {
	case "internal":
		if len(parts) > 1 {
			return "internal/" + parts[1]
		}
		return "internal"
	case "tools", "bench", "scripts":
		return ""
	}
	return parts[0]
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
