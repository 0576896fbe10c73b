package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"dicomgate/internal/dicomtest"
)

// TestRevokeAgentCLI: `dicomgate relay agents` lists the enrolled agent;
// `dicomgate relay revoke`, run beside the running relay, revokes it; the
// relay then refuses the agent's uploads (on its open connection or at its
// next handshake) and commits nothing more from it.
func TestRevokeAgentCLI(t *testing.T) {
	s := newSite(t, "")
	s.startRelay()
	defer kill9(s.relay)
	s.enrol()
	key := s.generate(11, dicomtest.CorpusOptions{Patients: 1, Slices: 4, NoExtras: true})
	s.startAgent()
	defer kill9(s.agent)
	s.drop(key)
	n := len(s.expected)
	s.waitCount(t, n, "before the revocation")

	list := strings.Split(s.run("relay", "agents", "--config", "relay.yaml"), "\n")
	if len(list) != 2 || !strings.HasPrefix(list[0], "AGENT") {
		t.Fatalf("relay agents:\n%s", strings.Join(list, "\n"))
	}
	f := strings.Fields(list[1])
	if len(f) != 5 || f[1] != "demo" || f[2] != "site-01" || f[4] != "active" {
		t.Fatalf("agent line %q: want ID demo site-01 ENROLLED active", list[1])
	}
	id := f[0]
	s.run("relay", "revoke", id, "--config", "relay.yaml")
	exp := s.run("audit", "export", "--config", "relay.yaml", "--format", "csv", "--action", "agent.revoke")
	if rows := strings.Split(exp, "\n"); len(rows) != 2 || !strings.Contains(rows[1], ",cli,") || !strings.Contains(rows[1], id) {
		t.Fatalf("audit of the revocation (want one agent.revoke by cli naming %s):\n%s", id, exp)
	}
	if out := s.run("relay", "agents", "--config", "relay.yaml", "--project", "demo"); !strings.Contains(out, id) || !strings.Contains(out, "revoked ") {
		t.Fatalf("after revoke:\n%s", out)
	}

	more := s.generate(12, dicomtest.CorpusOptions{Patients: 1, Slices: 3, NoExtras: true})
	s.drop(more)
	deadline := time.Now().Add(time.Minute)
	for {
		log := s.relayLog.String()
		if strings.Contains(log, `"agent_id":"`+id+`","file_id"`) && strings.Contains(log, `"message":"upload refused"`) ||
			strings.Contains(log, `"reason":"agent_revoked"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the relay did not refuse the revoked agent:\n%s", tail(log, 3000))
		}
		time.Sleep(200 * time.Millisecond)
	}
	// The refusal is final: a few seconds later the relay still holds
	// only the files committed before.
	time.Sleep(3 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got, err := committedFiles(ctx, s.client())
	if err != nil || len(got) != n {
		t.Fatalf("%d files committed after the revocation (err %v), want the %d from before", len(got), err, n)
	}
}
