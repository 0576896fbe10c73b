package demo

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"dicomgate/agent"
	"dicomgate/configs"
	"dicomgate/internal/dicomtest"
	"dicomgate/relay"
	"dicomgate/seal"
	"dicomgate/store"
)

// workspace is the demo's folder.
type workspace struct{ dir string }

func newWorkspace(dir string) (*workspace, error) {
	w := &workspace{dir: dir}
	for _, d := range []string{"", "policies", "agent", "relay", "inbox", "originals", "fetched"} {
		if err := os.MkdirAll(w.path(d), 0o700); err != nil {
			return nil, fmt.Errorf("demo: %w", err)
		}
	}
	if err := os.WriteFile(w.path("policies", "basic.yaml"), configs.BasicPolicy(), 0o600); err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	return w, nil
}

func (w *workspace) path(parts ...string) string {
	return filepath.Join(append([]string{w.dir}, parts...)...)
}

// coreLabKey loads or creates the core lab's key pair (corelab.key/.pub).
func (w *workspace) coreLabKey() (*seal.Identity, error) {
	keyPath := w.path("corelab.key")
	if _, err := os.Stat(keyPath); errors.Is(err, fs.ErrNotExist) {
		if _, err := seal.WriteKeyPair(w.path("corelab")); err != nil {
			return nil, err
		}
	}
	return seal.LoadIdentity(keyPath)
}

// relayConfig writes DIR/relay.yaml and loads it back, so the file the
// demo runs on is the one a user can reuse.
func (w *workspace) relayConfig(recipient, policyHash, readerHash string, s3 *store.S3Config) (*relay.Config, error) {
	rp, err := freePort()
	if err != nil {
		return nil, err
	}
	ap, err := freePort()
	if err != nil {
		return nil, err
	}
	text := fmt.Sprintf(`# Written by dicomgate demo. Reference: configs/relay.yaml.
listen: 127.0.0.1:%d
api_listen: 127.0.0.1:%d
data_dir: relay
projects:
  - id: %s
    recipients: [%s]
    policy_hashes: [%s]
readers:
  - name: corelab
    token_hash: %s
    projects: [%s]
`, rp, ap, project, recipient, policyHash, readerHash, project)
	if s3 != nil {
		text += fmt.Sprintf(`store:
  type: s3
  s3:
    endpoint: %s
    bucket: %s
    access_key: %s
    secret_key: %s
    region: %s
    use_tls: %v
    create_bucket: true
`, s3.Endpoint, s3.Bucket, s3.AccessKey, string(s3.SecretKey), s3.Region, s3.UseTLS)
	}
	path := w.path("relay.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	return relay.Load(path)
}

// agentConfig writes DIR/agent.yaml and loads it back.
func (w *workspace) agentConfig(relayAddr, recipient string) (*agent.Config, error) {
	text := fmt.Sprintf(`# Written by dicomgate demo. Reference: configs/agent.yaml.
site: %s
project: %s
relay:
  address: %s
  mode: auto
identity_dir: agent/identity
policy: policies/basic.yaml
secret_file: agent/secret.key
recipients: [%s]
watch:
  - path: inbox
    recursive: true
    stable_for: 300ms
    rescan_every: 2s
    after_commit: keep
spool_dir: agent/spool
queue_db: agent/queue.db
quarantine_dir: agent/quarantine
study_idle: 5s
`, site, project, relayAddr, recipient)
	path := w.path("agent.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	return agent.Load(path)
}

// drop copies the generated files into the watched folder, each written
// under a temporary name and renamed, as a modality or script would.
func (w *workspace) drop(key *dicomtest.Key) error {
	for _, f := range key.Files {
		src := filepath.Join(w.path("originals"), filepath.FromSlash(f.Path))
		dst := filepath.Join(w.path("inbox"), filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		if err := copyFile(src, dst+".part"); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		if err := os.Rename(dst+".part", dst); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
	}
	return nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
