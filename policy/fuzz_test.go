package policy

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse checks that no input makes Parse panic, that every failure is
// a *ValidationError with at least one problem, and that every accepted
// policy compiles and hashes deterministically. Seeds: the example
// policies and testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	examples, _ := filepath.Glob(filepath.Join("..", "configs", "policies", "*.yaml"))
	for _, e := range examples {
		if b, err := os.ReadFile(e); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse("fuzz.yaml", data, "testdata")
		if err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) || len(ve.Problems) == 0 {
				t.Fatalf("error is not a non-empty *ValidationError: %v", err)
			}
			return
		}
		if _, err := p.Compile([]byte(testSecret)); err != nil {
			t.Fatalf("valid policy does not compile: %v", err)
		}
		again, err := Parse("other.yaml", data, "testdata")
		if err != nil || again.Hash() != p.Hash() {
			t.Fatalf("second parse differs: %v", err)
		}
	})
}
