package e2e

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"dicomgate/agent"
	"dicomgate/internal/dicomtest"
	"dicomgate/relay"
)

// envInt reads a count from the environment (the chaos suite raises them).
func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// TestKillNine runs relay and agent as separate processes, drops a
// ~500-file workload and kills one of them with SIGKILL at random points,
// restarting it each time. Afterwards every file must be committed exactly
// once, every object must verify and decrypt to the expected anonymised
// bytes, no object may be left over, and the agent's queue must be empty.
func TestKillNine(t *testing.T) {
	killNine(t, envInt("DICOMGATE_KILLS", 20), "", dicomtest.CorpusOptions{})
}

// streamedStaging makes the relay stream nearly every file of 64x64
// images to its object store (see relay.StagingConfig.StreamMin), and
// discard at its start what a killed one left of a streamed upload.
const streamedStaging = "staging:\n  memory_file_limit: 2048\n  stream_min: 4096\n  keep_partial: 1s\n"

// TestKillNineStreamed is TestKillNine with the relay streaming uploads
// to its object store, its state files, published objects and commits
// cut at random points; before the objects are counted the relay restarts
// once more, its staging sweep discarding what the kills left.
func TestKillNineStreamed(t *testing.T) {
	killNine(t, envInt("DICOMGATE_KILLS", 20)/2, streamedStaging, dicomtest.CorpusOptions{Rows: 64, Cols: 64})
}

// streamedKey matches the object key of a streamed upload: it carries
// the content's SHA-256.
var streamedKey = regexp.MustCompile(`\.[0-9a-f]{64}\.dgseal$`)

// killNine runs TestKillNine's workload (images of opts' size) with kills
// kills, the relay configured with extraRelayYAML.
func killNine(t *testing.T, kills int, extraRelayYAML string, opts dicomtest.CorpusOptions) {
	patients := envInt("DICOMGATE_KILL_PATIENTS", 20)
	s := newSite(t, extraRelayYAML)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	t.Logf("seed-independent run: %d kills, %d patients", kills, patients)
	s.startRelay()
	defer func() { kill9(s.relay) }()
	s.enrol()
	opts.Patients, opts.Slices, opts.NoExtras = patients, 23, true
	key := s.generate(11, opts)
	s.startAgent()
	defer func() { kill9(s.agent) }()
	s.drop(key)
	t.Logf("%d files dropped, %d expected at the relay, %d quarantined by policy", s.inputs, len(s.expected), s.quarantine)

	victims := map[string]int{}
	for i := range kills {
		time.Sleep(time.Duration(100+rng.IntN(900)) * time.Millisecond)
		if rng.IntN(2) == 0 {
			kill9(s.agent)
			victims["agent"]++
			time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond)
			s.startAgent()
		} else {
			kill9(s.relay)
			victims["relay"]++
			time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond)
			s.startRelay()
		}
		_ = i
	}
	t.Logf("killed %v", victims)

	c := s.client()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	var got map[string]int
	waitStart := time.Now()
	lastN := -1
	for {
		var err error
		got, err = committedFiles(ctx, c)
		if err == nil && len(got) >= len(s.expected) {
			break
		}
		if len(got) != lastN && time.Since(waitStart) > 10*time.Second {
			t.Logf("%s: %d of %d committed", time.Since(waitStart).Round(time.Second), len(got), len(s.expected))
			lastN = len(got)
		}
		if ctx.Err() != nil {
			t.Fatalf("only %d of %d files committed (err %v)\nagent log tail:\n%s", len(got), len(s.expected), err, tail(s.agentLog.String(), 3000))
		}
		time.Sleep(300 * time.Millisecond)
	}
	for uid, n := range got {
		if n != 1 {
			t.Errorf("instance %s committed %d times", uid, n)
		}
		if _, ok := s.expected[uid]; !ok {
			t.Errorf("unexpected instance %s at the relay", uid)
		}
	}

	t.Logf("all %d files committed %s after the last kill", len(got), time.Since(waitStart).Round(time.Millisecond))

	// Every object verifies and decrypts to the expected bytes.
	out := filepath.Join(s.dir, "fetched")
	res, err := relay.Fetch(ctx, c, relay.FetchOptions{Project: "demo", Identity: s.identity, OutDir: out})
	if err != nil {
		t.Fatalf("fetch: %v", err)
	}
	if res.Failed != 0 || res.Fetched != len(s.expected) {
		t.Fatalf("fetched %d, failed %d, want %d", res.Fetched, res.Failed, len(s.expected))
	}
	same := 0
	filepath.Walk(out, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		uid := strings.TrimSuffix(filepath.Base(p), ".dcm")
		data, _ := os.ReadFile(p)
		if !bytes.Equal(data, s.expected[uid]) {
			t.Errorf("%s: fetched bytes differ from the local anonymisation", uid)
		} else {
			same++
		}
		return nil
	})
	if same != len(s.expected) {
		t.Errorf("%d of %d fetched files identical", same, len(s.expected))
	}

	// No orphan objects: one sealed object per committed file, no conflicts.
	if extraRelayYAML != "" {
		// The sweep at start takes what the kills left of streamed uploads.
		stop(s.relay)
		time.Sleep(1100 * time.Millisecond)
		s.startRelay()
	}
	sealed, conflicts, streamed := 0, 0, 0
	filepath.Walk(filepath.Join(s.dir, "relay"), func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			if strings.HasSuffix(p, ".dgseal") {
				sealed++
				if streamedKey.MatchString(p) {
					streamed++
				}
			}
			if strings.Contains(filepath.ToSlash(p), "/conflicts/") {
				conflicts++
			}
		}
		return nil
	})
	if sealed != len(s.expected) || conflicts != 0 {
		t.Errorf("%d sealed objects and %d conflict objects for %d files", sealed, conflicts, len(s.expected))
	}
	if extraRelayYAML != "" && streamed < sealed/2 {
		t.Errorf("only %d of %d objects were streamed", streamed, sealed)
	}

	// The agent's queue drains: stop it and look.
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
	lost, dup := 0, 0
	for uid := range s.expected {
		switch got[uid] {
		case 0:
			lost++
		case 1:
		default:
			dup++
		}
	}
	t.Logf("kill-9 summary: kills=%d agent=%d relay=%d files=%d committed=%d lost=%d duplicated=%d verified=%d orphans=%d streamed=%d",
		kills, victims["agent"], victims["relay"], len(s.expected), len(got), lost, dup, same, sealed-len(s.expected)+conflicts, streamed)
	spool, _ := os.ReadDir(filepath.Join(s.dir, "agent", "spool"))
	for _, e := range spool {
		if !strings.HasPrefix(e.Name(), ".") {
			t.Errorf("spool file %s left after commit", e.Name())
		}
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
