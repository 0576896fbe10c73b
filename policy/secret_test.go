package policy

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestLoadOrCreateSecret(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "secret.key")
	s1, created, err := LoadOrCreateSecret(path)
	if err != nil || !created || len(s1) != SecretSize {
		t.Fatalf("first call: created=%v len=%d err=%v", created, len(s1), err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	s2, created, err := LoadOrCreateSecret(path)
	if err != nil || created || !bytes.Equal(s1, s2) {
		t.Fatalf("second call must load the same secret: created=%v err=%v", created, err)
	}
}

func TestLoadSecretRejectsBadFiles(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{"short": "abcd\n", "nothex": "zz-not-hex\n"} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(content), 0o600)
		if _, err := LoadSecret(p); err == nil {
			t.Errorf("%s: Load accepted a bad secret", name)
		}
	}
}
