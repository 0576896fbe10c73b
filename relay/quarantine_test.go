package relay

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"dicomgate/audit"
	"dicomgate/transport"
)

// agentHTTP returns an HTTPS client presenting a's client certificate.
func agentHTTP(a *testAgent) *http.Client {
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{
		MinVersion: tls.VersionTLS13, RootCAs: a.cfg.RootCAs, Certificates: []tls.Certificate{a.cfg.Certificate}}}}
}

// do sends a request and returns the status and body.
func do(t *testing.T, c *http.Client, req *http.Request) (int, []byte) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// TestQuarantineReview: an agent reports, the page lists it, an admin
// requeues, the agent's commands carry the decision; another project's
// admin is refused and a report without a client certificate is 401.
func TestQuarantineReview(t *testing.T) {
	e := startAccountRelay(t, testAccounts())
	a := e.enrol(t, testProject, testSite, transport.ModeTCP)
	hc := agentHTTP(a)

	body, _ := json.Marshal([]transport.QuarantineReport{
		{Item: 7, Reason: "burned-in annotation", At: time.Now()},
		{Item: 8, Reason: "unsupported transfer syntax\x01", At: time.Now()},
	})
	req, _ := http.NewRequest("POST", e.apiURL+transport.QuarantinePath, bytes.NewReader(body))
	if st, b := do(t, hc, req); st != http.StatusNoContent {
		t.Fatalf("report: %d %s", st, b)
	}
	if n := e.auditCount(t, audit.Filter{Action: audit.ActionQuarantineReport}); n != 2 {
		t.Fatalf("%d quarantine.report events, want 2", n)
	}
	ev := e.lastAudit(t, audit.Filter{Action: audit.ActionQuarantineReport})
	if ev.Actor != a.id || ev.Object != a.id+"/8" || ev.Project != testProject || strings.ContainsRune(ev.Reason, 1) {
		t.Fatalf("report event %+v", ev.Event)
	}

	// No client certificate: 401.
	req, _ = http.NewRequest("POST", e.apiURL+transport.QuarantinePath, bytes.NewReader(body))
	if st, b := do(t, e.client("").http(), req); st != http.StatusUnauthorized {
		t.Fatalf("report without certificate: %d %s", st, b)
	}

	admin := e.ready(t, "padmin", grant(testProject, RoleAdmin))
	other := e.ready(t, "oadmin", grant("other", RoleAdmin))
	st, page := e.call(t, "GET", "/ui/quarantine", admin, nil)
	if st != http.StatusOK || !strings.Contains(string(page), "burned-in annotation") || !strings.Contains(string(page), testSite) {
		t.Fatalf("page: %d %s", st, page)
	}
	if _, page := e.call(t, "GET", "/ui/quarantine", other, nil); strings.Contains(string(page), "burned-in") {
		t.Fatal("other project's admin sees the quarantine")
	}

	decide := func(token, item, action string) int {
		form := url.Values{"project": {testProject}, "agent": {a.id}, "item": {item}, "action": {action}}
		req, _ := http.NewRequest("POST", e.apiURL+"/ui/quarantine/decide", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", "Bearer "+token)
		c := e.client("").http()
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		st, _ := do(t, c, req)
		return st
	}
	if st := decide(other, "7", "requeue"); st != http.StatusForbidden {
		t.Fatalf("other project's admin: %d, want 403", st)
	}
	if st := decide(admin, "7", "requeue"); st != http.StatusSeeOther {
		t.Fatalf("requeue: %d", st)
	}
	if st := decide(admin, "7", "discard"); st != http.StatusNotFound {
		t.Fatalf("decision on a decided item: %d, want 404", st)
	}
	if _, page := e.call(t, "GET", "/ui/quarantine", admin, nil); strings.Contains(string(page), "burned-in") ||
		!strings.Contains(string(page), "unsupported transfer syntax") {
		t.Fatalf("page after requeue: %s", page)
	}
	dec := e.lastAudit(t, audit.Filter{Action: audit.ActionQuarantineRequeue})
	if dec.Actor != "padmin" || dec.Object != a.id+"/7" {
		t.Fatalf("requeue event %+v", dec.Event)
	}

	commands := func(after int64) transport.QuarantineCommands {
		req, _ := http.NewRequest("GET", e.apiURL+transport.CommandsPath+"?after="+strconv.FormatInt(after, 10), nil)
		st, b := do(t, hc, req)
		if st != http.StatusOK {
			t.Fatalf("commands: %d %s", st, b)
		}
		var out transport.QuarantineCommands
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	got := commands(-1)
	if len(got.Commands) != 1 || got.Commands[0].Item != 7 || got.Commands[0].Action != transport.CommandRequeue ||
		got.Commands[0].By != "padmin" || got.Next != dec.Index {
		t.Fatalf("commands: %+v", got)
	}
	if got := commands(got.Next); len(got.Commands) != 0 || got.Next != dec.Index {
		t.Fatalf("commands after next: %+v", got)
	}
	req, _ = http.NewRequest("GET", e.apiURL+transport.CommandsPath, nil)
	if st, b := do(t, e.client("").http(), req); st != http.StatusUnauthorized {
		t.Fatalf("commands without certificate: %d %s", st, b)
	}
}
