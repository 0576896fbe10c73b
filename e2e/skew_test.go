package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"dicomgate/agent"
	"dicomgate/audit"
	"dicomgate/internal/dicomtest"
	"dicomgate/relay"
)

// startAgentWith starts the agent process with extra flags.
func (s *site) startAgentWith(extra ...string) {
	s.agent = s.start("agent", s.agentLog, append([]string{"agent", "--config", "agent.yaml"}, extra...)...)
}

// auditEvents returns the relay's audit entries of action (the relay
// may be running: the trail is read from its database).
func (s *site) auditEvents(action audit.Action) []audit.Entry {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg, err := relay.Load(filepath.Join(s.dir, "relay.yaml"))
	if err != nil {
		s.t.Fatal(err)
	}
	trail, err := relay.OpenAuditTrail(ctx, *cfg, zerolog.Nop())
	if err != nil {
		s.t.Fatal(err)
	}
	defer trail.Close()
	var out []audit.Entry
	for en, err := range trail.Log.Query(ctx, audit.Filter{Action: action}) {
		if err != nil {
			s.t.Fatal(err)
		}
		out = append(out, en)
	}
	return out
}

// waitLog waits until the agent's log holds every one of subs on one
// line, and returns the number of such lines.
func (s *site) waitLog(timeout time.Duration, subs ...string) int {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		n := 0
		for line := range strings.Lines(s.agentLog.String()) {
			all := true
			for _, sub := range subs {
				all = all && strings.Contains(line, sub)
			}
			if all {
				n++
			}
		}
		if n > 0 {
			return n
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("agent never logged %q\n%s", subs, tail(s.agentLog.String(), 3000))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// queueCounts stops the agent and reads its queue.
func (s *site) queueCounts() (map[agent.State]int, int) {
	s.t.Helper()
	stop(s.agent)
	q, err := agent.OpenQueue(context.Background(), zerolog.Nop(), filepath.Join(s.dir, "agent", "queue.db"))
	if err != nil {
		s.t.Fatal(err)
	}
	defer q.Close()
	counts, err := q.Counts(context.Background())
	if err != nil {
		s.t.Fatal(err)
	}
	pending, err := q.Pending(context.Background())
	if err != nil {
		s.t.Fatal(err)
	}
	return counts, pending
}

// TestClockSkew runs a real agent process whose clock is hours or days
// off the relay's (--clock-offset; Go reads the clock through the vDSO,
// so faketime cannot). Hours either way and days ahead just work: every
// file committed exactly once and verified, the relay audits
// agent.clock_skew once with the measured skew, and its own time stays
// the authority (commit times and receipts are the relay's; the agent's
// claimed sealing time is kept beside them). Days behind cannot verify
// the relay's certificate: the agent logs one clear error naming clock
// skew, keeps every file queued, and once its clock is right delivers
// them all.
func TestClockSkew(t *testing.T) {
	patients := envInt("DICOMGATE_CLOCK_PATIENTS", 2)
	var results []string
	for _, skew := range []time.Duration{6 * time.Hour, -6 * time.Hour, 72 * time.Hour, -72 * time.Hour} {
		t.Run(skew.String(), func(t *testing.T) {
			s := newSite(t, "")
			s.startRelay()
			defer func() { kill9(s.relay) }()
			s.enrol()
			key := s.generate(61, dicomtest.CorpusOptions{Patients: patients, Slices: 5, NoExtras: true})
			s.startAgentWith("--clock-offset", skew.String())
			defer func() { kill9(s.agent) }()
			s.drop(key)
			if skew <= -72*time.Hour {
				results = append(results, fmt.Sprintf("%s:refused", skew))
				s.skewBehind(len(key.Files))
				return
			}
			o := s.checkInvariants(3*time.Minute, s.fsObjects)
			ev := s.auditEvents(audit.ActionAgentClockSkew)
			if len(ev) != 1 {
				t.Fatalf("%d agent.clock_skew events, want 1", len(ev))
			}
			got, _ := strconv.ParseFloat(fmt.Sprint(ev[0].Details["skew_seconds"]), 64)
			if d := time.Duration(got) * time.Second; d < skew-time.Minute || d > skew+time.Minute {
				t.Errorf("audited skew %s, want about %s", d, skew)
			}
			// The relay's time is the record: each commit is audited at
			// the relay's time, the agent's claim beside it.
			for _, c := range s.auditEvents(audit.ActionFileCommitted) {
				claimed, err := time.Parse(time.RFC3339Nano, fmt.Sprint(c.Details["agent_sealed_at"]))
				if err != nil {
					t.Fatalf("file.committed without the agent's claimed time: %v", c.Details)
				}
				if off := claimed.Sub(c.Time); off < skew-5*time.Minute || off > skew+time.Minute {
					t.Errorf("commit at %s (relay) claims %s (agent): %s apart, want about %s", c.Time, claimed, off, skew)
				}
			}
			results = append(results, fmt.Sprintf("%s:ok", skew))
			summary(t, "clock-skew-"+skew.String(), o, fmt.Sprintf("skew=%s audited_skew_s=%.0f", skew, got))
		})
	}
	t.Logf("clock summary: skews=%s", strings.Join(results, ","))
}

// skewBehind checks the agent whose clock is days behind: one error line
// naming clock skew (not one per retry), nothing stored, every file
// still queued; then the clock is fixed and everything is delivered.
func (s *site) skewBehind(inputs int) {
	t := s.t
	s.waitLog(time.Minute, `"level":"error"`, "clock skew")
	// Let several retries go by: the error is logged once.
	s.waitLog(time.Minute, "step failed; will retry", "clock skew")
	retries := 0
	for retries < 3 {
		retries = s.waitLog(time.Minute, "step failed; will retry", "clock skew")
		time.Sleep(200 * time.Millisecond)
	}
	if n := s.waitLog(time.Second, `"level":"error"`, "clock skew"); n != 1 {
		t.Errorf("clock skew logged at error level %d times over %d retries, want once", n, retries)
	}
	if got, err := committedFiles(context.Background(), s.client()); err != nil || len(got) != 0 {
		t.Fatalf("%d files committed by an agent that cannot verify the relay (err %v)", len(got), err)
	}
	counts, pending := s.queueCounts()
	if pending != inputs-s.quarantine || counts[agent.StateQuarantined] != s.quarantine {
		t.Fatalf("queue %v, %d pending: want every file still queued, none quarantined", counts, pending)
	}
	// The clock is corrected: the same agent delivers everything.
	s.startAgent()
	o := s.checkInvariants(3*time.Minute, s.fsObjects)
	if n := len(s.auditEvents(audit.ActionFileCommitted)); n != len(s.expected) {
		t.Errorf("%d file.committed events for %d files", n, len(s.expected))
	}
	summary(t, "clock-skew--72h0m0s", o, fmt.Sprintf("skew=-72h refused_until_fixed=yes error_lines=1 retries=%d", retries))
}
