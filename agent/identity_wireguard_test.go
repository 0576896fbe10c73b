package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"dicomgate/transport"
)

// TestEnrollWireGuard: enrolment registers a WireGuard key (generated into
// the identity folder, or the configured one from `wg keygen`), keeps the
// relay's grant in agent.json, and a wireguard section without peers then
// runs on it alone.
func TestEnrollWireGuard(t *testing.T) {
	r := newTestRelay(t)
	r.start()
	dir := filepath.Join(t.TempDir(), "identity")
	id, err := EnrollWireGuard(t.Context(), dir, r.addr, r.token(), "site-1", false, "")
	must(t, err)
	keyFile := filepath.Join(dir, IdentityWireGuardKeyFile)
	fi, err := os.Stat(keyFile)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("%s: %v, mode %v; want 0600", IdentityWireGuardKeyFile, err, fi.Mode().Perm())
	}
	priv, err := readWireGuardKey(keyFile)
	must(t, err)
	if keys := r.wireGuardKeys(); len(keys) != 1 || keys[0] != priv.PublicKey() {
		t.Fatalf("relay got wireguard keys %v, want the public key of %s", keys, IdentityWireGuardKeyFile)
	}
	info, err := os.ReadFile(filepath.Join(dir, IdentityInfoFile))
	must(t, err)
	if strings.Contains(string(info), priv.String()) {
		t.Fatalf("%s holds the wireguard private key", IdentityInfoFile)
	}
	loaded, err := LoadIdentity(dir)
	must(t, err)
	if loaded.WireGuard == nil || *loaded.WireGuard != *id.WireGuard {
		t.Fatalf("grant after LoadIdentity = %+v, want %+v", loaded.WireGuard, id.WireGuard)
	}
	if host := strings.Split(id.WireGuard.Endpoint, ":")[0]; host != "127.0.0.1" {
		t.Errorf("endpoint %q: the enrolment host was not filled in", id.WireGuard.Endpoint)
	}

	// A section without peers takes everything from the enrolment.
	cfg := &Config{IdentityDir: dir, Relay: RelayConfig{Address: r.addr}, WireGuard: &transport.WireGuardSection{}}
	wg, addr, err := cfg.tunnel(loaded)
	must(t, err)
	if addr != "10.99.0.1:7443" || wg.Address != id.WireGuard.Address || wg.PrivateKey != priv ||
		len(wg.Peers) != 1 || wg.Peers[0].PublicKey != r.wgRelayKey() || wg.Peers[0].Endpoint != id.WireGuard.Endpoint ||
		wg.Peers[0].AllowedIPs[0].String() != "10.99.0.1/32" {
		t.Fatalf("tunnel from the enrolment = %+v, dial %s", wg, addr)
	}
	// Without the grant (an identity enrolled before), it says what to do.
	loaded.WireGuard = nil
	if _, _, err := cfg.tunnel(loaded); err == nil || !strings.Contains(err.Error(), "enrol again") {
		t.Errorf("tunnel without a grant: %v", err)
	}

	// Re-enrolment replaces the generated key; a key file from `wg
	// keygen` is used as it is.
	_, err = EnrollWireGuard(t.Context(), dir, r.addr, r.token(), "site-1", true, "")
	must(t, err)
	if again, _ := readWireGuardKey(keyFile); again == priv || r.wireGuardKeys()[1] != again.PublicKey() {
		t.Errorf("forced re-enrolment kept the generated wireguard key")
	}
	own, err := transport.GenerateWireGuardKey()
	must(t, err)
	ownFile := filepath.Join(t.TempDir(), "site-wg.key")
	must(t, os.WriteFile(ownFile, []byte(own.String()+"\n"), 0o600))
	_, err = EnrollWireGuard(t.Context(), filepath.Join(t.TempDir(), "id2"), r.addr, r.token(), "site-2", false, ownFile)
	must(t, err)
	if r.wireGuardKeys()[2] != own.PublicKey() {
		t.Errorf("configured key file not used")
	}
}
