package configs

import (
	"io/fs"
	"strings"
	"testing"
)

func TestEmbeddedExamples(t *testing.T) {
	var names []string
	fs.WalkDir(FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			names = append(names, p)
		}
		return nil
	})
	for _, want := range []string{"agent.yaml", "relay.yaml", "policies/basic.yaml", "policies/trial.yaml", "systemd/dicomgate-agent.service", "systemd/dicomgate-relay.service"} {
		found := false
		for _, n := range names {
			found = found || n == want
		}
		if !found {
			t.Errorf("%s not embedded (have %v)", want, names)
		}
	}
	if !strings.Contains(string(BasicPolicy()), "profile: basic") {
		t.Error("basic policy does not name the basic profile")
	}
}

func TestSystemdUnitsRunUnprivileged(t *testing.T) {
	for _, name := range []string{"systemd/dicomgate-agent.service", "systemd/dicomgate-relay.service"} {
		b, err := fs.ReadFile(FS(), name)
		if err != nil {
			t.Fatal(err)
		}
		s := string(b)
		if !strings.Contains(s, "User=") || strings.Contains(s, "User=root") {
			t.Errorf("%s: must run as an unprivileged user", name)
		}
		if !strings.Contains(s, "ExecStart=") {
			t.Errorf("%s: no ExecStart", name)
		}
	}
}
