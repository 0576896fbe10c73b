package agent

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestLoadExampleConfig(t *testing.T) {
	c, err := Load(filepath.Join("..", "configs", "agent.yaml"))
	if err != nil {
		t.Fatalf("Load(configs/agent.yaml): %v", err)
	}
	if c.Site != "st-mary-radiology" || c.Relay.Mode != "auto" || len(c.Watch) != 1 ||
		c.Watch[0].AfterCommit != Move || c.Watch[0].StableFor != 2*time.Second || c.Retry.Max != 5*time.Minute {
		t.Errorf("loaded config = %+v", c)
	}
}

func TestLoadDefaults(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "agent.yaml")
	writeFile(t, path, "watch:\n  - path: in\n")
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		Site: DefaultSite, Project: DefaultProject,
		Relay:       RelayConfig{Address: DefaultRelayAddress, Mode: DefaultRelayMode},
		IdentityDir: filepath.Join(dir, "identity"), SecretFile: filepath.Join(dir, "identity", "site.secret"),
		Watch: []WatchConfig{{Path: filepath.Join(dir, "in"), StableFor: 2 * time.Second,
			RescanEvery: 30 * time.Second, AfterCommit: Keep}},
		DICOM:    DICOMConfig{AETitle: DefaultAETitle},
		SpoolDir: filepath.Join(dir, "spool"), SpoolMemory: 32 << 20, QueueDB: filepath.Join(dir, "queue.db"),
		KeepCommitted: 30 * 24 * time.Hour,
		QuarantineDir: filepath.Join(dir, "quarantine"), Workers: runtime.NumCPU(), UploadsInFlight: 8,
		StudyIdle: time.Minute, Retry: RetryConfig{Min: time.Second, Max: 5 * time.Minute}, LogLevel: "info",
	}
	if fmt.Sprintf("%+v", *c) != fmt.Sprintf("%+v", want) {
		t.Errorf("Load =\n%+v\nwant\n%+v", *c, want)
	}
	// No config file at all: the embedded demo's defaults, rooted at ".".
	c, err = Load("")
	if err != nil {
		t.Fatalf("Load(\"\"): %v", err)
	}
	wd, _ := os.Getwd()
	if c.QueueDB != filepath.Join(wd, "queue.db") || len(c.Watch) != 0 {
		t.Errorf("Load(\"\") = %+v", c)
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // each must appear in the error
	}{
		{"ok", "site: s\n", nil},
		{"several problems", `
relay: {mode: udp}
workers: -1
retry: {min: 2s, max: 1s}
log_level: loud
watch:
  - path: in
    after_commit: move
  - path: in2
    after_commit: shred
  - recursive: true
`, []string{"relay.mode", "workers", "retry.max", "log_level", "watch[0].move_to: required",
			"watch[1].after_commit", "watch[2].path: empty"}},
		{"move_to inside watched folder", "watch: [{path: in, after_commit: move, move_to: in/done}]\n",
			[]string{"watch[0].move_to: inside"}},
		{"spool inside watched folder", "spool_dir: in/spool\nwatch: [{path: in}]\n", []string{"contains spool_dir"}},
		{"spool_memory off", "spool_memory: -1\n", nil},
		{"spool_memory negative", "spool_memory: -2\n", []string{"spool_memory: -2"}},
		{"both secrets", "secret: hunter2\nsecret_file: s\n", []string{"set only one"}},
		{"same folder twice", "watch: [{path: in}, {path: ./in}]\n", []string{"watch[1].path: same folder"}},
		{"unknown key", "sight: s\n", []string{"field sight not found"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "agent.yaml")
			writeFile(t, path, tt.yaml)
			_, err := Load(path)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Load: no error, want %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			var ce *ConfigError
			if errors.As(err, &ce) && len(ce.Problems) != len(tt.want) {
				t.Errorf("%d problems, want %d: %v", len(ce.Problems), len(tt.want), err)
			}
		})
	}
}

func TestSecretRedacted(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent.yaml")
	writeFile(t, path, "secret: hunter2\n")
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.Secret.Reveal() != "hunter2" {
		t.Fatalf("Reveal = %q", c.Secret.Reveal())
	}
	for _, s := range []string{fmt.Sprint(c.Secret), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c.Secret)} {
		if strings.Contains(s, "hunter2") {
			t.Errorf("secret printed: %s", s)
		}
	}
	if c.SecretFile != "" {
		t.Errorf("SecretFile defaulted alongside an inline secret: %q", c.SecretFile)
	}
}
