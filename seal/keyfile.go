package seal

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
)

// Key file suffixes written by [WriteKeyPair].
const (
	// IdentityFileSuffix names the secret key file, mode 0600.
	IdentityFileSuffix = ".key"
	// RecipientFileSuffix names the public key file, mode 0644.
	RecipientFileSuffix = ".pub"
)

// WriteKeyPair generates a new identity and writes it to name+".key" (mode
// 0600) and its recipient to name+".pub" (mode 0644), as used by
// `dicomgate keygen --out NAME`. It refuses to overwrite either file; if the
// public file cannot be written, the secret file it created is removed.
// It returns the new recipient so the caller can print it.
func WriteKeyPair(name string) (*Recipient, error) {
	id, err := GenerateIdentity()
	if err != nil {
		return nil, err
	}
	keyPath, pubPath := name+IdentityFileSuffix, name+RecipientFileSuffix
	if _, err := os.Lstat(pubPath); err == nil {
		return nil, fmt.Errorf("seal: write key pair: %s: %w", pubPath, os.ErrExist)
	}
	rcpt := id.Recipient()
	secret := fmt.Sprintf("# dicomgate identity (secret key): keep this file private\n# recipient: %s\n%s\n", rcpt, id)
	if err := writeNewFile(keyPath, []byte(secret), 0o600); err != nil {
		return nil, err
	}
	public := fmt.Sprintf("# dicomgate recipient (public key)\n%s\n", rcpt)
	if err := writeNewFile(pubPath, []byte(public), 0o644); err != nil {
		return nil, errors.Join(err, os.Remove(keyPath))
	}
	return rcpt, nil
}

// writeNewFile creates path exclusively with perm, writes data and syncs.
func writeNewFile(path string, data []byte, perm os.FileMode) (err error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return fmt.Errorf("seal: create key file: %w", err)
	}
	defer func() {
		if cerr := f.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("seal: close %s: %w", path, cerr)
		}
		if err != nil {
			err = errors.Join(err, os.Remove(path))
		}
	}()
	if err := f.Chmod(perm); err != nil {
		return fmt.Errorf("seal: chmod %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("seal: write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("seal: sync %s: %w", path, err)
	}
	return nil
}

// LoadIdentity reads an identity file written by [WriteKeyPair]: blank lines
// and lines starting with '#' are ignored, and exactly one key line must
// remain. Errors name the file but never include its contents.
func LoadIdentity(path string) (*Identity, error) {
	line, err := readKeyLine(path)
	if err != nil {
		return nil, err
	}
	id, err := ParseIdentity(line)
	if err != nil {
		return nil, fmt.Errorf("seal: identity file %s: %w", path, err)
	}
	return id, nil
}

// LoadRecipient reads a recipient file written by [WriteKeyPair], with the
// same rules as [LoadIdentity].
func LoadRecipient(path string) (*Recipient, error) {
	line, err := readKeyLine(path)
	if err != nil {
		return nil, err
	}
	r, err := ParseRecipient(line)
	if err != nil {
		return nil, fmt.Errorf("seal: recipient file %s: %w", path, err)
	}
	return r, nil
}

// maxKeyFileSize bounds key files read by readKeyLine.
const maxKeyFileSize = 64 << 10

// readKeyLine returns the single non-comment, non-blank line of path.
func readKeyLine(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("seal: read key file: %w", err)
	}
	if len(data) > maxKeyFileSize {
		return "", fmt.Errorf("seal: key file %s: too large", path)
	}
	var found []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), maxKeyFileSize)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		found = append(found, line)
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("seal: key file %s: %w", path, err)
	}
	if len(found) != 1 {
		return "", fmt.Errorf("seal: key file %s: want exactly one key line, found %d", path, len(found))
	}
	return found[0], nil
}
