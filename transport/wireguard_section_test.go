package transport

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWireGuardSection(t *testing.T) {
	priv := mustWGKey(t)
	keyFile := filepath.Join(t.TempDir(), "wg.key")
	if err := os.WriteFile(keyFile, []byte(priv.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	peer := mustWGKey(t).PublicKey().String()
	tests := []struct {
		name    string
		sec     WireGuardSection
		wantErr string
	}{
		{"agent", WireGuardSection{PrivateKeyFile: keyFile, Address: "10.99.0.2",
			Peers: []WireGuardPeerSection{{PublicKey: peer, Endpoint: "127.0.0.1:51820", AllowedIPs: []string{"10.99.0.1/32"}}}}, ""},
		{"no key file", WireGuardSection{Address: "10.99.0.2"}, "private_key_file: required"},
		{"bad address", WireGuardSection{PrivateKeyFile: keyFile, Address: "relay"}, "address"},
		{"bad peer", WireGuardSection{PrivateKeyFile: keyFile, Address: "10.99.0.1",
			Peers: []WireGuardPeerSection{{PublicKey: "x", AllowedIPs: []string{"10.99.0.300/32"}}}}, "peers[0].public_key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := tt.sec.Config()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if cfg.PrivateKey != priv || len(cfg.Peers) != 1 || cfg.MTU != DefaultWireGuardMTU {
					t.Fatalf("config %+v", cfg)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want one mentioning %q", err, tt.wantErr)
			}
		})
	}
}
