package policy

import (
	"path/filepath"
	"slices"
	"testing"
)

// TestExamplePolicies loads and compiles every policy in configs/policies.
func TestExamplePolicies(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "configs", "policies", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"basic.yaml":                 {},
		"trial.yaml":                 {"retain-safe-private", "retain-long-modified-dates"},
		"research-longitudinal.yaml": {"retain-device-id", "retain-patient-chars", "retain-long-full-dates"},
		"ultrasound-sc.yaml":         {"retain-safe-private"},
		"strict-clean.yaml":          {"clean-descriptors", "clean-structured-content", "clean-graphics"},
	}
	for name := range want {
		if !slices.Contains(files, filepath.Join("..", "configs", "policies", name)) {
			t.Errorf("example %s is missing", name)
		}
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			p, err := Load(f)
			if err != nil {
				t.Fatal(err)
			}
			prof, err := p.Compile([]byte(testSecret))
			if err != nil {
				t.Fatal(err)
			}
			names := OptionNames(prof.Options)
			if w, ok := want[filepath.Base(f)]; ok && !slices.Equal(names, w) {
				t.Errorf("options = %q, want %q", names, w)
			}
			if filepath.Base(f) == "ultrasound-sc.yaml" && (len(prof.PixelRules) < 4 || len(prof.RiskyModalities) == 0 || len(prof.RiskySOPClasses) == 0) {
				t.Errorf("ultrasound-sc.yaml lacks pixel rules or risky lists: %d rules", len(prof.PixelRules))
			}
			if filepath.Base(f) == "trial.yaml" {
				if len(prof.Rules) == 0 || prof.Rules[0].Action != "lookup" || prof.Rules[0].Missing != "hash" || len(prof.Rules[0].Table) == 0 {
					t.Errorf("trial.yaml's first rule is not the subjects lookup with missing: hash: %+v", prof.Rules)
				}
			}
		})
	}
}
