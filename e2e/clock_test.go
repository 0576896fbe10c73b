package e2e

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"dicomgate/audit"
	"dicomgate/internal/dicomtest"
	"dicomgate/relay"
	"dicomgate/seal"
)

// TestRotatedSigningKey: half the files go through a relay, which is then
// stopped (signing a checkpoint at shutdown), given a new signing key with
// the old one retired next to it, and started again for the other half.
// Every file is delivered exactly once and verifies, and the audit trail,
// whose checkpoints are now signed by two keys, verifies with both keys as
// verifiers and records every commit.
//
// `dicomgate audit verify` must pass too: the relay keeps the retired
// public key as data_dir/retired-*.pub and verifies with every key.
func TestRotatedSigningKey(t *testing.T) {
	patients := envInt("DICOMGATE_ROTATE_PATIENTS", 4)
	s := newSite(t, "")
	s.startRelay()
	defer func() { kill9(s.relay) }()
	s.enrol()
	key := s.generate(51, dicomtest.CorpusOptions{Patients: patients, Slices: 23, NoExtras: true})
	half := len(key.Files) / 2
	first, second := *key, *key
	first.Files, second.Files = key.Files[:half], key.Files[half:]
	s.startAgent()
	defer func() { kill9(s.agent) }()
	s.drop(&first)
	s.waitSome(len(s.expected) / 3)
	time.Sleep(2 * time.Second) // let the first half settle

	// Rotate: stop the relay (it checkpoints on the way out), retire the
	// key pair, write a new one, start again.
	stop(s.relay)
	dataDir := filepath.Join(s.dir, "relay")
	oldPub := readVerifyingKey(t, filepath.Join(dataDir, "relay-signing.pub"))
	for _, f := range []string{"relay-signing.key", "relay-signing.pub"} {
		if err := os.Rename(filepath.Join(dataDir, f), filepath.Join(dataDir, "retired-"+f)); err != nil {
			t.Fatal(err)
		}
	}
	newPriv, err := seal.GenerateSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	pemKey, err := seal.MarshalSigningKey(newPriv)
	if err != nil {
		t.Fatal(err)
	}
	pemPub, err := seal.MarshalVerifyingKey(newPriv.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dataDir, "relay-signing.key"), string(pemKey))
	writeFile(t, filepath.Join(dataDir, "relay-signing.pub"), string(pemPub))
	s.startRelay()
	s.drop(&second)

	o := s.checkInvariants(3*time.Minute, s.fsObjects)
	stop(s.relay) // a last checkpoint, by the new key

	// The trail verifies with the old and the new key as verifiers.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg, err := relay.Load(filepath.Join(s.dir, "relay.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	trail, err := relay.OpenAuditTrail(ctx, *cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer trail.Close()
	var vkeys []string
	for _, pub := range []ed25519.PublicKey{oldPub, newPriv.Public().(ed25519.PublicKey)} {
		vk, err := audit.VerifierKey("dicomgate-relay", pub)
		if err != nil {
			t.Fatal(err)
		}
		vkeys = append(vkeys, vk)
	}
	both, err := audit.NewVerifiers(vkeys...)
	if err != nil {
		t.Fatal(err)
	}
	res, err := trail.Log.Verify(ctx, both)
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK {
		t.Errorf("trail does not verify with the old and new keys: %+v", res.Problems)
	}
	if res.Checkpoints < 2 {
		t.Errorf("%d checkpoints, want at least one per key", res.Checkpoints)
	}
	// The new key alone (what `audit verify` uses) must not accept the
	// old checkpoints: that would mean they were not checked at all.
	onlyNew, err := audit.NewVerifiers(vkeys[1])
	if err != nil {
		t.Fatal(err)
	}
	res2, err := trail.Log.Verify(ctx, onlyNew)
	if err != nil {
		t.Fatal(err)
	}
	if res2.OK {
		t.Errorf("trail verifies with the new key alone, yet checkpoints were signed by the old one")
	}
	trail.Close()

	exp, err := exec.Command(binary, "audit", "export", "--config", filepath.Join(s.dir, "relay.yaml"),
		"--format", "csv", "--action", "file.committed").Output()
	committedEvents := strings.Count(string(exp), "file.committed")
	if err == nil && committedEvents != len(s.expected) {
		t.Errorf("audit lists %d file.committed events for %d files", committedEvents, len(s.expected))
	}
	out, cliErr := exec.Command(binary, "audit", "verify", "--config", filepath.Join(s.dir, "relay.yaml")).CombinedOutput()
	cli := "pass"
	if cliErr != nil {
		cli = "fail"
		t.Errorf("dicomgate audit verify after rotation: %v\n%s", cliErr, tail(string(out), 600))
	}
	summary(t, "rotated-key", o, fmt.Sprintf("faults=1 checkpoints=%d verify_both_keys=%v verify_new_key_only=%v cli_verify=%s",
		res.Checkpoints, res.OK, res2.OK, cli))
}

// readVerifyingKey reads a PEM Ed25519 public key.
func readVerifyingKey(t *testing.T, path string) ed25519.PublicKey {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := seal.ParseVerifyingKey(data)
	if err != nil {
		t.Fatal(err)
	}
	return pub
}
