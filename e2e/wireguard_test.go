package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"dicomgate/internal/dicomtest"
)

// TestWireGuardEnrolled runs the relay with uploads inside its WireGuard
// tunnel only and an agent whose agent.yaml has a wireguard section with no
// peers: `agent enroll` registers the agent's key over the host network,
// the relay allocates its tunnel address, and the agent delivers through
// the tunnel with nothing configured by hand; after a relay restart the
// peer is still there and delivery goes on.
func TestWireGuardEnrolled(t *testing.T) {
	wgPort := freePort(t)
	s := newSite(t, fmt.Sprintf(`listen_mode: wireguard
wireguard:
  private_key_file: relay-wg.key
  address: 10.99.0.1
  listen: 127.0.0.1:%d
  agent_prefix: 10.99.0.0/24
`, wgPort))
	s.run("wg", "keygen", "--out", "relay-wg.key")
	s.addAgentYAML("wireguard: {}\n")

	s.startRelay() // the host port answers: enrolment only
	defer func() { kill9(s.relay) }()
	tok := s.run("token", "create", "--config", "relay.yaml", "--project", "demo", "--site", "site-01")
	out := s.run("agent", "enroll", "--config", "agent.yaml", "--token", tok)
	if !strings.Contains(out, "wireguard: tunnel address 10.99.0.") || !strings.Contains(out, "relay 10.99.0.1:") {
		t.Fatalf("enrol output does not show the tunnel grant:\n%s", out)
	}
	if fi, err := os.Stat(filepath.Join(s.dir, "agent", "identity", "wg.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("agent wireguard key: %v", err)
	}

	key := s.generate(11, dicomtest.CorpusOptions{Patients: 2, Slices: 4, NoExtras: true})
	half := len(key.Files) / 2
	first, second := *key, *key
	first.Files, second.Files = key.Files[:half], key.Files[half:]
	s.startAgent()
	defer func() { kill9(s.agent) }()
	s.drop(&first)
	s.waitCount(t, half, "through the tunnel")

	stop(s.relay)
	s.relay = s.start("relay", s.relayLog, "relay", "--config", "relay.yaml")
	s.drop(&second)
	s.waitCount(t, len(s.expected), "after the relay restarted")
	if !strings.Contains(s.relayLog.String(), `"enrolled_peers":1`) {
		t.Errorf("restarted relay did not restore the enrolled peer:\n%s", tail(s.relayLog.String(), 2000))
	}
	stop(s.agent)
	if strings.Contains(s.agentLog.String(), "enrolment only") {
		t.Errorf("the agent sent uploads to the host port:\n%s", tail(s.agentLog.String(), 2000))
	}
}

// waitCount waits until the relay holds n files.
func (s *site) waitCount(t *testing.T, n int, what string) {
	t.Helper()
	c := s.client()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for {
		got, err := committedFiles(ctx, c)
		if err == nil && len(got) == n {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("%d of %d committed %s (err %v)\nagent:\n%s\nrelay:\n%s", len(got), n, what, err,
				tail(s.agentLog.String(), 3000), tail(s.relayLog.String(), 3000))
		}
		time.Sleep(200 * time.Millisecond)
	}
}
