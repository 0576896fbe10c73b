package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"dicomgate/seal"
	"dicomgate/transport"
)

// Enroll enrols this agent with the relay at relayAddr using a single-use
// token: it generates a new Ed25519 key, has the relay's CA certify it
// (transport.Enrol pins the CA named by the token) and writes the identity
// to dir: agent.key (0600), agent.crt, ca.crt and agent.json. name is the
// agent name asked for; the relay decides the ID.
//
// An existing identity in dir is an error wrapping [ErrIdentityExists]
// unless force is set; the check happens before the token is used.
func Enroll(ctx context.Context, dir, relayAddr, token, name string, force bool) (*Identity, error) {
	return enroll(ctx, dir, relayAddr, token, name, force, "")
}

// EnrollWireGuard is [Enroll] for an agent that reaches the relay through
// the relay's WireGuard tunnel. It also registers the agent's WireGuard
// public key: the private key in wgKeyFile (from `dicomgate wg keygen`)
// or, when wgKeyFile is empty, in wg.key of dir, created (0600) when
// missing and replaced when force is set. The relay answers with the
// agent's tunnel address, its own WireGuard key, endpoint and tunnel
// address, which go to agent.json: a wireguard section without peers then
// needs nothing else. The enrolment itself runs on the host network at
// relayAddr.
func EnrollWireGuard(ctx context.Context, dir, relayAddr, token, name string, force bool, wgKeyFile string) (*Identity, error) {
	if wgKeyFile == "" {
		wgKeyFile = filepath.Join(dir, IdentityWireGuardKeyFile)
	}
	return enroll(ctx, dir, relayAddr, token, name, force, wgKeyFile)
}

// enroll is Enroll, and EnrollWireGuard when wgKeyFile is set.
func enroll(ctx context.Context, dir, relayAddr, token, name string, force bool, wgKeyFile string) (*Identity, error) {
	if !force {
		if err := noIdentity(dir); err != nil {
			return nil, err
		}
	}
	key, err := seal.GenerateSigningKey()
	if err != nil {
		return nil, fmt.Errorf("agent: enroll: %w", err)
	}
	var wgKey transport.WireGuardKey
	newWGKey := false
	if wgKeyFile != "" {
		managed := wgKeyFile == filepath.Join(dir, IdentityWireGuardKeyFile)
		if !(managed && force) {
			if wgKey, err = readWireGuardKey(wgKeyFile); err != nil {
				return nil, err
			}
		}
		if wgKey.IsZero() {
			if wgKey, err = transport.GenerateWireGuardKey(); err != nil {
				return nil, fmt.Errorf("agent: enroll: %w", err)
			}
			newWGKey = true
		}
	}
	var resp *transport.EnrolResponse
	if wgKeyFile != "" {
		resp, err = transport.EnrolWireGuard(ctx, relayAddr, token, key, name, wgKey.PublicKey())
	} else {
		resp, err = transport.Enrol(ctx, relayAddr, token, key, name)
	}
	if err != nil {
		return nil, fmt.Errorf("agent: enroll: %w", err)
	}
	if len(resp.CertChain) == 0 {
		return nil, errors.New("agent: enroll: relay returned no certificate")
	}
	ca, err := transport.ParseCertificatePEM(transport.EncodeCertificatePEM(resp.CACert))
	if err != nil {
		return nil, fmt.Errorf("agent: enroll: relay CA: %w", err)
	}
	id := &Identity{AgentID: resp.AgentID, RelayAddress: relayAddr,
		CAFingerprint: transport.Fingerprint(ca), Key: key, Chain: resp.CertChain, CA: ca, WireGuard: resp.WireGuard}
	if err := id.check(); err != nil {
		return nil, fmt.Errorf("agent: enroll: %w", err)
	}
	if newWGKey {
		if err := os.MkdirAll(filepath.Dir(wgKeyFile), 0o700); err != nil {
			return nil, fmt.Errorf("agent: wireguard key dir: %w", pathless(err))
		}
		if err := writeFileAtomicMode(wgKeyFile, []byte(wgKey.String()+"\n"), 0o600); err != nil {
			return nil, err
		}
	}
	if err := id.save(dir, force); err != nil {
		return nil, err
	}
	return id, nil
}

// noIdentity returns ErrIdentityExists if dir holds an identity file.
func noIdentity(dir string) error {
	for _, f := range []string{IdentityKeyFile, IdentityInfoFile} {
		_, err := os.Lstat(filepath.Join(dir, f))
		if err == nil {
			return ErrIdentityExists
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("agent: identity: %w", pathless(err))
		}
	}
	return nil
}

// save writes id to dir; agent.json is written last, completing it.
func (id *Identity) save(dir string, force bool) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("agent: identity dir: %w", pathless(err))
	}
	if !force {
		if err := noIdentity(dir); err != nil {
			return err
		}
	}
	keyPEM, err := seal.MarshalSigningKey(id.Key)
	if err != nil {
		return fmt.Errorf("agent: identity key: %w", err)
	}
	var chain []byte
	for _, der := range id.Chain {
		chain = append(chain, transport.EncodeCertificatePEM(der)...)
	}
	info, err := json.MarshalIndent(identityInfo{AgentID: id.AgentID, RelayAddress: id.RelayAddress,
		CAFingerprint: id.CAFingerprint, WireGuard: newWireGuardInfo(id.WireGuard)}, "", "  ")
	if err != nil {
		return fmt.Errorf("agent: identity: %w", err)
	}
	for _, f := range []struct {
		name string
		data []byte
		mode os.FileMode
	}{
		{IdentityKeyFile, keyPEM, 0o600},
		{IdentityCertFile, chain, 0o644},
		{IdentityCAFile, transport.EncodeCertificatePEM(id.CA.Raw), 0o644},
		{IdentityInfoFile, append(info, '\n'), 0o644},
	} {
		if err := writeFileAtomicMode(filepath.Join(dir, f.name), f.data, f.mode); err != nil {
			return err
		}
	}
	return nil
}

// writeFileAtomicMode writes data to path through a synced temporary file
// with the given mode and a rename, so readers never see a partial file.
func writeFileAtomicMode(path string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("agent: write %s: %w", filepath.Base(path), pathless(err))
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(mode)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("agent: write %s: %w", filepath.Base(path), pathless(err))
	}
	return nil
}
