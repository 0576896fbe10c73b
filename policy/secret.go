package policy

// The site secret keys every pseudonym (UIDs, date shifts, hashed IDs) a
// compiled policy produces. The same secret gives the same pseudonyms
// across runs and machines, so it is created once and kept at the site.

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// SecretSize is the length in bytes of a new secret.
const SecretSize = 32

// DefaultSecretPath is where a secret is kept when the user names none:
// $XDG_CONFIG_HOME/dicomgate/secret.key (or the platform equivalent).
func DefaultSecretPath() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("policy: secret: %w", err)
	}
	return filepath.Join(dir, "dicomgate", "secret.key"), nil
}

// LoadSecret reads a secret file: hex on one line, at least 16 bytes.
func LoadSecret(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("policy: secret: %w", err)
	}
	s, err := hex.DecodeString(strings.TrimSpace(string(data)))
	if err != nil {
		return nil, fmt.Errorf("policy: secret: %s: not a hex secret", path)
	}
	if len(s) < 16 {
		return nil, fmt.Errorf("policy: secret: %s: secret shorter than 16 bytes", path)
	}
	return s, nil
}

// LoadOrCreateSecret loads the secret at path, creating it (mode 0600, parent
// folders 0700) when it does not exist. created reports whether it did.
func LoadOrCreateSecret(path string) (secret []byte, created bool, err error) {
	s, err := LoadSecret(path)
	if err == nil {
		return s, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, false, fmt.Errorf("policy: secret: %w", err)
	}
	s = make([]byte, SecretSize)
	if _, err := rand.Read(s); err != nil {
		return nil, false, fmt.Errorf("policy: secret: %w", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			// Created by someone else meanwhile: use theirs.
			s, err := LoadSecret(path)
			return s, false, err
		}
		return nil, false, fmt.Errorf("policy: secret: %w", err)
	}
	if _, err := f.WriteString(hex.EncodeToString(s) + "\n"); err != nil {
		f.Close()
		return nil, false, fmt.Errorf("policy: secret: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, false, fmt.Errorf("policy: secret: %w", err)
	}
	return s, true, f.Close()
}
