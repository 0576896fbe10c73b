// Package secretfile loads and creates the site secret that keys every
// pseudonym (UIDs, date shifts, hashed IDs). The same secret gives the same
// pseudonyms across runs and machines, so it is created once and kept.
package secretfile

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

// Size is the length in bytes of a new secret.
const Size = 32

// DefaultPath is where a secret is kept when the user names none:
// $XDG_CONFIG_HOME/dicomgate/secret.key (or the platform equivalent).
func DefaultPath() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("secretfile: %w", err)
	}
	return filepath.Join(dir, "dicomgate", "secret.key"), nil
}

// Load reads a secret file: hex on one line, at least 16 bytes.
func Load(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("secretfile: %w", err)
	}
	s, err := hex.DecodeString(strings.TrimSpace(string(data)))
	if err != nil {
		return nil, fmt.Errorf("secretfile: %s: not a hex secret", path)
	}
	if len(s) < 16 {
		return nil, fmt.Errorf("secretfile: %s: secret shorter than 16 bytes", path)
	}
	return s, nil
}

// LoadOrCreate loads the secret at path, creating it (mode 0600, parent
// folders 0700) when it does not exist. created reports whether it did.
func LoadOrCreate(path string) (secret []byte, created bool, err error) {
	s, err := Load(path)
	if err == nil {
		return s, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, false, fmt.Errorf("secretfile: %w", err)
	}
	s = make([]byte, Size)
	if _, err := rand.Read(s); err != nil {
		return nil, false, fmt.Errorf("secretfile: %w", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			// Created by someone else meanwhile: use theirs.
			s, err := Load(path)
			return s, false, err
		}
		return nil, false, fmt.Errorf("secretfile: %w", err)
	}
	if _, err := f.WriteString(hex.EncodeToString(s) + "\n"); err != nil {
		f.Close()
		return nil, false, fmt.Errorf("secretfile: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, false, fmt.Errorf("secretfile: %w", err)
	}
	return s, true, f.Close()
}
