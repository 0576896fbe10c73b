package seal

import (
	"go/build"
	"strings"
	"testing"
)

// TestImportsStdlibOnly enforces DESIGN.md: seal imports only the standard
// library.
func TestImportsStdlibOnly(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range append(pkg.Imports, pkg.TestImports...) {
		if first, _, _ := strings.Cut(imp, "/"); strings.Contains(first, ".") || first == "dicomgate" {
			t.Errorf("seal imports non-standard package %q", imp)
		}
	}
}
