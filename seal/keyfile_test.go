package seal

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteKeyPair(t *testing.T) {
	name := filepath.Join(t.TempDir(), "corelab")
	rcpt, err := WriteKeyPair(name)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct {
		suffix string
		mode   os.FileMode
	}{{IdentityFileSuffix, 0o600}, {RecipientFileSuffix, 0o644}} {
		fi, err := os.Stat(name + f.suffix)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != f.mode {
			t.Errorf("%s mode %v, want %v", f.suffix, fi.Mode().Perm(), f.mode)
		}
	}
	id, err := LoadIdentity(name + IdentityFileSuffix)
	if err != nil {
		t.Fatal(err)
	}
	r, err := LoadRecipient(name + RecipientFileSuffix)
	if err != nil {
		t.Fatal(err)
	}
	if r.String() != rcpt.String() || id.Recipient().String() != rcpt.String() {
		t.Fatal("loaded keys do not match the written pair")
	}
	pub, _ := os.ReadFile(name + RecipientFileSuffix)
	if strings.Contains(string(pub), IdentityPrefix) {
		t.Fatal("public file contains the secret key")
	}

	// A second call must refuse and leave the pair untouched.
	secretBefore, _ := os.ReadFile(name + IdentityFileSuffix)
	if _, err := WriteKeyPair(name); !errors.Is(err, os.ErrExist) {
		t.Fatalf("overwrite: err = %v, want os.ErrExist", err)
	}
	secretAfter, _ := os.ReadFile(name + IdentityFileSuffix)
	if string(secretBefore) != string(secretAfter) {
		t.Fatal("existing secret key was overwritten")
	}
}

func TestWriteKeyPairExistingPublicFile(t *testing.T) {
	name := filepath.Join(t.TempDir(), "lab")
	if err := os.WriteFile(name+RecipientFileSuffix, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := WriteKeyPair(name); !errors.Is(err, os.ErrExist) {
		t.Fatalf("err = %v, want os.ErrExist", err)
	}
	if _, err := os.Stat(name + IdentityFileSuffix); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("secret file left behind: %v", err)
	}
}

func TestLoadKeyErrors(t *testing.T) {
	dir := t.TempDir()
	id := newTestIdentity(t)
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name      string
		path      string
		recipient bool
	}{
		{"missing identity file", filepath.Join(dir, "nope.key"), false},
		{"empty identity file", write("empty.key", "# only a comment\n\n"), false},
		{"two identities", write("two.key", id.String()+"\n"+id.String()+"\n"), false},
		{"recipient in identity file", write("wrong.key", id.Recipient().String()+"\n"), false},
		{"missing recipient file", filepath.Join(dir, "nope.pub"), true},
		{"identity in recipient file", write("wrong.pub", id.String()+"\n"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			if tt.recipient {
				_, err = LoadRecipient(tt.path)
			} else {
				_, err = LoadIdentity(tt.path)
			}
			if err == nil {
				t.Fatal("load succeeded")
			}
			if !strings.Contains(err.Error(), filepath.Base(tt.path)) {
				t.Errorf("error %q does not name the file", err)
			}
			if strings.Contains(err.Error(), id.String()[len(IdentityPrefix):][:10]) {
				t.Error("error leaks key material")
			}
		})
	}
}
