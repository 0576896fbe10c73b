package relay

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"dicomgate/audit"
	"dicomgate/transport"
)

// TestAgentStatusStuck: an agent reports a stuck queue twice; the relay
// audits agent.stuck once, the gauge is 1 and the dashboard shows the
// alert; after 5 silent minutes the agent is listed as not heard from;
// recovering sets the gauge back to 0.
func TestAgentStatusStuck(t *testing.T) {
	e := startAccountRelay(t, testAccounts())
	a := e.enrol(t, testProject, testSite, transport.ModeTCP)
	hc := agentHTTP(a)
	post := func(c *http.Client, st transport.AgentStatus) int {
		body, _ := json.Marshal(st)
		req, _ := http.NewRequest("POST", e.apiURL+transport.AgentStatusPath, bytes.NewReader(body))
		code, b := do(t, c, req)
		if code/100 != 2 && c == hc {
			t.Fatalf("status: %d %s", code, b)
		}
		return code
	}
	stuck := transport.AgentStatus{Counts: map[string]int{"seen": 3, "committed": 9},
		OldestWaitingSeconds: 1234, Stuck: true, At: time.Now()}
	post(hc, stuck)
	post(hc, stuck)
	if code := post(e.client("").http(), stuck); code != http.StatusUnauthorized {
		t.Fatalf("status without certificate: %d, want 401", code)
	}

	if n := e.auditCount(t, audit.Filter{Action: audit.ActionAgentStuck}); n != 1 {
		t.Fatalf("%d agent.stuck events, want 1", n)
	}
	ev := e.lastAudit(t, audit.Filter{Action: audit.ActionAgentStuck})
	if ev.Actor != a.id || ev.Project != testProject || ev.Object != a.id {
		t.Fatalf("agent.stuck event %+v", ev.Event)
	}
	gauge := func() float64 {
		code, body := e.apiGet(t, "/metrics", "")
		if code != http.StatusOK {
			t.Fatalf("/metrics = %d", code)
		}
		return metricSamples(t, string(body))[`dicomgate_relay_agents_stuck{project="`+testProject+`"}`]
	}
	if g := gauge(); g != 1 {
		t.Fatalf("dicomgate_relay_agents_stuck = %v, want 1", g)
	}

	admin := e.ready(t, "padmin", grant(testProject, RoleAdmin))
	other := e.ready(t, "oadmin", grant("other", RoleAdmin))
	st, page := e.call(t, "GET", "/ui/", admin, nil)
	if st != http.StatusOK || !strings.Contains(string(page), `id="agent-alert"`) ||
		!strings.Contains(string(page), "stuck queue") || !strings.Contains(string(page), "20m34s") ||
		!strings.Contains(string(page), testSite) {
		t.Fatalf("dashboard: %d %s", st, page)
	}
	if _, page := e.call(t, "GET", "/ui/", other, nil); strings.Contains(string(page), `id="agent-alert"`) {
		t.Fatal("other project's admin sees the alert")
	}

	e.clock.Advance(6 * time.Minute)
	if _, page := e.call(t, "GET", "/ui/", admin, nil); !strings.Contains(string(page), "not heard from") {
		t.Fatalf("dashboard after 6 silent minutes: %s", page)
	}

	post(hc, transport.AgentStatus{Counts: map[string]int{"committed": 12}, At: time.Now()})
	if g := gauge(); g != 0 {
		t.Fatalf("dicomgate_relay_agents_stuck after recovery = %v, want 0", g)
	}
	if _, page := e.call(t, "GET", "/ui/", admin, nil); strings.Contains(string(page), `id="agent-alert"`) {
		t.Fatalf("dashboard after recovery: %s", page)
	}
}

// TestAgentStatusStorageFull: an agent reports its disk full twice, then
// clear, then full again: agent.storage_full is audited once per episode
// (twice), the gauge follows and the dashboard lists the agent while its
// disk is full.
func TestAgentStatusStorageFull(t *testing.T) {
	e := startAccountRelay(t, testAccounts())
	a := e.enrol(t, testProject, testSite, transport.ModeTCP)
	hc := agentHTTP(a)
	post := func(full bool) {
		body, _ := json.Marshal(transport.AgentStatus{Counts: map[string]int{"seen": 3}, StorageFull: full, At: time.Now()})
		req, _ := http.NewRequest("POST", e.apiURL+transport.AgentStatusPath, bytes.NewReader(body))
		if code, b := do(t, hc, req); code/100 != 2 {
			t.Fatalf("status: %d %s", code, b)
		}
	}
	gauge := func() float64 {
		code, body := e.apiGet(t, "/metrics", "")
		if code != http.StatusOK {
			t.Fatalf("/metrics = %d", code)
		}
		return metricSamples(t, string(body))[`dicomgate_relay_agents_storage_full{project="`+testProject+`"}`]
	}
	admin := e.ready(t, "padmin", grant(testProject, RoleAdmin))
	dashboard := func() string {
		st, page := e.call(t, "GET", "/ui/", admin, nil)
		if st != http.StatusOK {
			t.Fatalf("dashboard: %d", st)
		}
		return string(page)
	}

	post(true)
	post(true)
	if g := gauge(); g != 1 {
		t.Fatalf("dicomgate_relay_agents_storage_full = %v, want 1", g)
	}
	if n := e.auditCount(t, audit.Filter{Action: audit.ActionAgentStorageFull}); n != 1 {
		t.Fatalf("%d agent.storage_full events after one episode, want 1", n)
	}
	if ev := e.lastAudit(t, audit.Filter{Action: audit.ActionAgentStorageFull}); ev.Actor != a.id || ev.Object != a.id || ev.Project != testProject {
		t.Fatalf("agent.storage_full event %+v", ev.Event)
	}
	if page := dashboard(); !strings.Contains(page, "full disk") || !strings.Contains(page, testSite) {
		t.Fatalf("dashboard while the agent's disk is full: %s", page)
	}
	post(false)
	if g := gauge(); g != 0 {
		t.Fatalf("dicomgate_relay_agents_storage_full after recovery = %v, want 0", g)
	}
	if page := dashboard(); strings.Contains(page, "full disk") {
		t.Fatalf("dashboard after recovery: %s", page)
	}
	post(true)
	if n := e.auditCount(t, audit.Filter{Action: audit.ActionAgentStorageFull}); n != 2 {
		t.Fatalf("%d agent.storage_full events after two episodes, want 2", n)
	}
}
