package relay

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestExampleConfigLoads(t *testing.T) {
	c, err := Load("../configs/relay.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != ":7443" || c.APIListen != ":8443" || c.Store.Type != "fs" || len(c.Projects) != 1 ||
		len(c.Readers) != 1 || c.EnrolmentTokenTTL != 72*time.Hour ||
		c.Staging.MemoryBudget != DefaultStagingMemoryBudget || c.Staging.MemoryFileLimit != DefaultStagingMemoryFileLimit ||
		c.Staging.KeepPartial != DefaultStagingKeepPartial || c.Staging.StreamMin != DefaultStagingStreamMin {
		t.Fatalf("unexpected config: %+v", c)
	}
}

func TestZeroConfigGivesDefaults(t *testing.T) {
	c, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	want := filepath.Join(wd, DefaultDataDir)
	if c.DataDir != want || c.Store.FS.Dir != filepath.Join(want, "objects") || c.Database.Path != filepath.Join(want, "meta.db") {
		t.Fatalf("paths: %+v", c)
	}
	if c.Listen != DefaultListen || c.APIListen != DefaultAPIListen || len(c.Projects) != 1 || c.Projects[0].ID != DefaultProject ||
		c.AgentCertValidity != DefaultAgentCertValidity || c.ShutdownTimeout != DefaultShutdownTimeout ||
		c.Staging != (StagingConfig{MemoryBudget: DefaultStagingMemoryBudget, MemoryFileLimit: DefaultStagingMemoryFileLimit,
			KeepPartial: DefaultStagingKeepPartial, StreamMin: DefaultStagingStreamMin}) {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // substrings, one per expected problem
	}{
		{"bad everything", `
listen: "nope"
store: {type: ftp}
database: {type: oracle}
projects:
  - id: Bad_Project
    recipients: [dgpub1xyz]
    policy_hashes: [ABC]
  - id: ok
  - id: ok
readers:
  - name: ""
    token_hash: short
  - name: lab
    token_hash: 0000000000000000000000000000000000000000000000000000000000000000
    projects: [missing]
staging: {memory_budget: -2, memory_file_limit: -1}
`, []string{"staging.memory_budget:", "staging.memory_file_limit:", "listen:", "store.type:", "database.type:", "projects[0].id:", "projects[0].recipients[0]:",
			"projects[0].policy_hashes[0]:", "projects[2].id: duplicate", "readers[0].name:", "readers[0].token_hash:",
			"readers[0].projects:", "readers[1].projects[0]: unknown project"}},
		{"s3 without endpoint", "store: {type: s3}\n", []string{"store.s3:"}},
		{"empty project list", "projects: []\n", []string{"projects: at least one"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "relay.yaml")
			if err := os.WriteFile(p, []byte(tc.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Load(p)
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v, want *ConfigError", err)
			}
			if len(ce.Problems) != len(tc.want) {
				t.Errorf("%d problems, want %d:\n%v", len(ce.Problems), len(tc.want), err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("missing problem %q in:\n%v", w, err)
				}
			}
		})
	}
}

func TestUnknownKeyRefused(t *testing.T) {
	p := filepath.Join(t.TempDir(), "relay.yaml")
	os.WriteFile(p, []byte("listne: ':1'\n"), 0o600)
	if _, err := Load(p); err == nil || !strings.Contains(err.Error(), "listne") {
		t.Fatalf("err = %v", err)
	}
}

func TestIdentifiers(t *testing.T) {
	tests := []struct {
		fn   func(string) bool
		in   string
		want bool
	}{
		{validUID, "1.2.840.10008.1.2", true},
		{validUID, "2.25.123", true},
		{validUID, "", false},
		{validUID, ".1.2", false},
		{validUID, "1.2.", false},
		{validUID, "1..2", false},
		{validUID, "1.2/3", false},
		{validUID, "1.2.a", false},
		{validUID, strings.Repeat("1", 65), false},
		{validProject, "trial-1", true},
		{validProject, "Trial", false},
		{validProject, "-x", false},
		{validProject, "a/b", false},
		{validFileID, "f-1.2_3", true},
		{validFileID, ".hidden", false},
		{validFileID, "a/b", false},
		{validFileID, "..", false},
		{validSite, "site-a", true},
		{validSite, "site a", false},
	}
	for _, tc := range tests {
		if got := tc.fn(tc.in); got != tc.want {
			t.Errorf("%q: got %v, want %v", tc.in, got, tc.want)
		}
	}
	if _, err := instanceKeys("p", "1.2", "1.2.3", "1.2.3.4", "f00d"); err != nil {
		t.Error(err)
	}
	if _, err := instanceKeys("p", "1.2", "..", "1.2.3.4", "f00d"); err == nil {
		t.Error("instanceKeys accepted ..")
	}
}
