package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"dicomgate/agent"
	"dicomgate/relay"
	"dicomgate/store"
)

// outcome is what [site.checkInvariants] found, for a summary line.
type outcome struct {
	files, committed, lost, duplicated, verified, orphans int
	waited                                                time.Duration
}

// String formats the outcome as k=v pairs.
func (o outcome) String() string {
	return fmt.Sprintf("files=%d committed=%d lost=%d duplicated=%d verified=%d orphans=%d wait=%s",
		o.files, o.committed, o.lost, o.duplicated, o.verified, o.orphans, o.waited.Round(100*time.Millisecond))
}

// objectCounter counts the sealed objects and the conflict objects a
// relay's store holds.
type objectCounter func(ctx context.Context) (sealed, conflicts int, err error)

// fsObjects counts objects of a relay storing in its data folder.
func (s *site) fsObjects(context.Context) (sealed, conflicts int, err error) {
	err = filepath.Walk(filepath.Join(s.dir, "relay"), func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			if strings.HasSuffix(p, ".dgseal") {
				sealed++
			}
			if strings.Contains(filepath.ToSlash(p), "/conflicts/") {
				conflicts++
			}
		}
		return err
	})
	return sealed, conflicts, err
}

// s3Objects counts objects in an S3 bucket.
func s3Objects(cfg store.S3Config) objectCounter {
	return func(ctx context.Context) (sealed, conflicts int, err error) {
		cfg.CreateBucket = false
		b, err := store.NewS3(ctx, cfg)
		if err != nil {
			return 0, 0, err
		}
		err = b.List(ctx, "", func(oi store.ObjectInfo) error {
			if strings.HasSuffix(oi.Key, ".dgseal") {
				sealed++
			}
			if strings.HasPrefix(oi.Key, "conflicts/") {
				conflicts++
			}
			return nil
		})
		return sealed, conflicts, err
	}
}

// waitCommitted polls the relay API until every expected file is
// committed, failing the test after timeout.
func (s *site) waitCommitted(timeout time.Duration) (map[string]int, time.Duration) {
	s.t.Helper()
	c := s.client()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start := time.Now()
	for {
		got, err := committedFiles(ctx, c)
		if err == nil && len(got) >= len(s.expected) {
			return got, time.Since(start)
		}
		if ctx.Err() != nil {
			s.t.Fatalf("only %d of %d files committed after %s (err %v)\nagent log tail:\n%s\nrelay log tail:\n%s",
				len(got), len(s.expected), timeout, err, tail(s.agentLog.String(), 3000), tail(s.relayLog.String(), 3000))
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// checkInvariants waits for every expected file, then checks issue 7's
// invariants: each committed exactly once, each fetched, verified and
// byte-identical to the local anonymisation, no orphan or conflict object,
// the agent's queue drained (the agent is stopped to look) and its spool
// empty. It returns what it found; failures are reported on s.t.
func (s *site) checkInvariants(timeout time.Duration, objects objectCounter) outcome {
	t := s.t
	t.Helper()
	got, waited := s.waitCommitted(timeout)
	o := outcome{files: len(s.expected), committed: len(got), waited: waited}
	for uid, n := range got {
		if n != 1 {
			t.Errorf("instance %s committed %d times", uid, n)
		}
		if _, ok := s.expected[uid]; !ok {
			t.Errorf("unexpected instance %s at the relay", uid)
		}
	}
	for uid := range s.expected {
		switch got[uid] {
		case 0:
			o.lost++
		case 1:
		default:
			o.duplicated++
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out := filepath.Join(s.dir, "fetched")
	res, err := relay.Fetch(ctx, s.client(), relay.FetchOptions{Project: "demo", Identity: s.identity, OutDir: out})
	if err != nil {
		t.Fatalf("fetch: %v", err)
	}
	if res.Failed != 0 || res.Fetched != len(s.expected) {
		t.Errorf("fetched %d, failed %d, want %d", res.Fetched, res.Failed, len(s.expected))
	}
	filepath.Walk(out, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		uid := strings.TrimSuffix(filepath.Base(p), ".dcm")
		data, _ := os.ReadFile(p)
		if bytes.Equal(data, s.expected[uid]) {
			o.verified++
		} else {
			t.Errorf("%s: fetched bytes differ from the local anonymisation", uid)
		}
		return nil
	})
	if o.verified != len(s.expected) {
		t.Errorf("%d of %d fetched files identical", o.verified, len(s.expected))
	}

	sealed, conflicts, err := objects(ctx)
	if err != nil {
		t.Errorf("count objects: %v", err)
	}
	o.orphans = sealed - len(s.expected) + conflicts
	if sealed != len(s.expected) || conflicts != 0 {
		t.Errorf("%d sealed objects and %d conflict objects for %d files", sealed, conflicts, len(s.expected))
	}

	// The agent's queue drains: stop it and look (restarting it while
	// items are still pending, within a bound).
	deadline := time.Now().Add(time.Minute)
	for {
		stop(s.agent)
		q, err := agent.OpenQueue(context.Background(), zerolog.Nop(), filepath.Join(s.dir, "agent", "queue.db"))
		if err != nil {
			t.Fatal(err)
		}
		pending, err := q.Pending(context.Background())
		counts, _ := q.Counts(context.Background())
		q.Close()
		if err != nil {
			t.Fatal(err)
		}
		if pending == 0 {
			if counts[agent.StateCommitted] != len(s.expected) || counts[agent.StateQuarantined] != s.quarantine {
				t.Errorf("queue: %v, want %d committed and %d quarantined", counts, len(s.expected), s.quarantine)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("queue still has %d pending items: %v", pending, counts)
		}
		s.startAgent()
		time.Sleep(2 * time.Second)
	}
	spool, _ := os.ReadDir(filepath.Join(s.dir, "agent", "spool"))
	for _, e := range spool {
		if !strings.HasPrefix(e.Name(), ".") {
			t.Errorf("spool file %s left after commit", e.Name())
		}
	}
	return o
}

// agentVia points the agent at addr (a proxy) instead of the relay, and
// adds extra lines to its relay section (e.g. "mode: tcp"). Enrolment
// still goes straight to the relay.
func (s *site) agentVia(addr string, relayLines ...string) {
	s.t.Helper()
	p := filepath.Join(s.dir, "agent.yaml")
	data, err := os.ReadFile(p)
	if err != nil {
		s.t.Fatal(err)
	}
	repl := "address: " + addr + "\n"
	for _, l := range relayLines {
		repl += "  " + l + "\n"
	}
	cfg := strings.Replace(string(data), "address: "+s.relayAddr+"\n", repl, 1)
	if cfg == string(data) {
		s.t.Fatal("agent.yaml has no relay address to replace")
	}
	writeFile(s.t, p, cfg)
}

// summary logs the line scripts/reliability.sh collects.
func summary(t *testing.T, suite string, o outcome, faults string) {
	t.Logf("%s summary: %s %s", suite, o, faults)
}
