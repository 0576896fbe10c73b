package relay

import (
	"go/build"
	"strings"
	"testing"
)

// TestImports enforces DESIGN.md: of our packages relay imports only
// transport, store, audit, policy and seal (and internal helpers).
func TestImports(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	allowed := map[string]bool{
		"dicomgate/transport": true, "dicomgate/store": true, "dicomgate/store/storetest": true,
		"dicomgate/audit": true, "dicomgate/policy": true, "dicomgate/seal": true,
		"dicomgate/internal/dicomtest": true,
	}
	for _, imp := range append(pkg.Imports, pkg.TestImports...) {
		if strings.HasPrefix(imp, "dicomgate/") && !allowed[imp] {
			t.Errorf("relay imports %s", imp)
		}
	}
	// Tests may generate samples (the policy tester's).
	for _, imp := range pkg.Imports {
		if imp == "dicomgate/internal/dicomtest" {
			t.Errorf("relay imports %s outside tests", imp)
		}
	}
}
