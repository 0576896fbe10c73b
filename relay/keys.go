package relay

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"dicomgate/seal"
	"dicomgate/transport"
)

// Files in the data directory.
const (
	caDirName          = "ca"
	signingKeyFileName = "relay-signing.key"
	verifyKeyFileName  = "relay-signing.pub"
	stagingDirName     = "staging"
	caCommonName       = "dicomgate relay CA"
)

// loadOrCreateCA loads the relay CA from dir, creating and saving a new one
// (key 0600) the first time.
func loadOrCreateCA(dir string) (ca *transport.CA, created bool, err error) {
	if _, err := os.Stat(filepath.Join(dir, "ca.key")); err == nil {
		ca, err := transport.LoadCA(dir)
		if err != nil {
			return nil, false, fmt.Errorf("relay: load ca: %w", err)
		}
		return ca, false, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, fmt.Errorf("relay: ca: %w", err)
	}
	ca, err = transport.NewCA(caCommonName)
	if err != nil {
		return nil, false, fmt.Errorf("relay: new ca: %w", err)
	}
	if err := ca.Save(dir); err != nil {
		return nil, false, fmt.Errorf("relay: save ca: %w", err)
	}
	return ca, true, nil
}

// loadOrCreateSigningKey loads the relay's receipt signing key from
// dataDir, creating it (0600, with its public half next to it, 0644) the
// first time.
func loadOrCreateSigningKey(dataDir string) (priv ed25519.PrivateKey, created bool, err error) {
	path := filepath.Join(dataDir, signingKeyFileName)
	data, err := os.ReadFile(path)
	if err == nil {
		priv, err := seal.ParseSigningKey(data)
		if err != nil {
			return nil, false, fmt.Errorf("relay: signing key: %w", err)
		}
		return priv, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, fmt.Errorf("relay: signing key: %w", err)
	}
	priv, err = seal.GenerateSigningKey()
	if err != nil {
		return nil, false, fmt.Errorf("relay: signing key: %w", err)
	}
	pemKey, err := seal.MarshalSigningKey(priv)
	if err != nil {
		return nil, false, fmt.Errorf("relay: signing key: %w", err)
	}
	pemPub, err := seal.MarshalVerifyingKey(priv.Public().(ed25519.PublicKey))
	if err != nil {
		return nil, false, fmt.Errorf("relay: signing key: %w", err)
	}
	if err := writeFileAtomic(path, pemKey, 0o600); err != nil {
		return nil, false, fmt.Errorf("relay: signing key: %w", err)
	}
	if err := writeFileAtomic(filepath.Join(dataDir, verifyKeyFileName), pemPub, 0o644); err != nil {
		return nil, false, fmt.Errorf("relay: signing key: %w", err)
	}
	return priv, true, nil
}

// writeFileAtomic writes data to path through a temporary file, fsync and
// rename, so a crash leaves the old file or the new one.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

// syncDir fsyncs a directory so a rename in it is durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return err
	}
	return nil
}
