package relay

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"dicomgate/audit"
	"dicomgate/transport"
)

// TestAgentClockSkewAudited: an agent whose clock is 6 h ahead is served
// (the relay's time stays the authority), audited once as
// agent.clock_skew with the measured skew, counted in the gauge until its
// clock is right again; a new episode is audited again.
func TestAgentClockSkewAudited(t *testing.T) {
	e := startRelay(t, envOptions{})
	ctx := context.Background()
	a := e.enrol(t, testProject, testSite, transport.ModeTCP)
	skew := 6 * time.Hour
	cfg := a.cfg
	cfg.Time = func() time.Time { return time.Now().Add(skew) }
	c, err := transport.Dial(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	clock := func() {
		t.Helper()
		if _, err := c.Clock(ctx); err != nil {
			t.Fatal(err)
		}
	}
	clock()
	clock()
	f := audit.Filter{Action: audit.ActionAgentClockSkew}
	ev := e.auditEntries(t, f)
	if len(ev) != 1 {
		t.Fatalf("%d agent.clock_skew events, want 1", len(ev))
	}
	if s, _ := strconv.ParseFloat(fmt.Sprint(ev[0].Details["skew_seconds"]), 64); ev[0].Actor != a.id || s < 6*3600-60 || s > 6*3600+60 {
		t.Fatalf("event %+v, want about 21600 s of skew", ev[0].Event)
	}
	gauge := `dicomgate_relay_agents_clock_skewed{project="` + testProject + `"}`
	if g := e.metric(t, gauge); g != 1 {
		t.Fatalf("skewed agents %v, want 1", g)
	}
	skew = 0
	clock()
	if g := e.metric(t, gauge); g != 0 {
		t.Fatalf("skewed agents %v after the clock was fixed, want 0", g)
	}
	skew = -6 * time.Hour
	clock()
	if n := len(e.auditEntries(t, f)); n != 2 {
		t.Fatalf("%d agent.clock_skew events after a second episode, want 2", n)
	}
	// Files are still taken: the relay never judges the agent's time.
	file := e.seal(t, a, fileSpec{})
	if _, err := c.Upload(ctx, file.offer, bytes.NewReader(file.sealed)); err != nil {
		t.Fatalf("upload from the skewed agent: %v", err)
	}
}
