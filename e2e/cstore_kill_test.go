package e2e

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"dicomgate/agent"
	"dicomgate/internal/dicomtest"
)

// TestKillNineCStore sends a corpus to the agent's C-STORE SCP (a separate
// process) with dcmtk storescu over two associations at once and kills the
// agent with SIGKILL right after a random number of success responses,
// several times. Only the instances never acknowledged are sent again
// after each restart, so an acknowledged instance the agent lost would
// never reach the relay: in the end every instance must be committed
// exactly once and the agent's queue must hold each as committed.
func TestKillNineCStore(t *testing.T) {
	if _, err := exec.LookPath("storescu"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("storescu not installed (apt-get install -y dcmtk)")
		}
		t.Skip("storescu not installed (apt-get install -y dcmtk)")
	}
	kills := envInt("DICOMGATE_CSTORE_KILLS", 4)
	s := newSite(t, "")
	scp := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	s.addAgentYAML(fmt.Sprintf("dicom:\n  listen: %s\n  allowed_calling_aes: [MODALITY]\n", scp))
	s.startRelay()
	defer func() { kill9(s.relay) }()
	s.enrol()
	key := s.generate(41, dicomtest.CorpusOptions{Patients: 4, Slices: 20, NoExtras: true,
		TransferSyntaxes: []string{dicomtest.ExplicitVRLittleEndian}})
	if s.quarantine != 0 {
		t.Fatalf("%d corpus files would be quarantined", s.quarantine)
	}
	var files []string
	for _, fi := range key.Files {
		files = append(files, filepath.Join(s.dir, "originals", filepath.FromSlash(fi.Path)))
	}
	s.startAgent()
	defer func() { kill9(s.agent) }()
	waitListening(t, scp, s.agentLog)

	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 2))
	acked := map[string]bool{}
	for round := 0; len(acked) < len(files); round++ {
		if round > kills+20 {
			t.Fatalf("%d of %d instances acknowledged after %d rounds", len(acked), len(files), round)
		}
		var pending []string
		for _, p := range files {
			if !acked[p] {
				pending = append(pending, p)
			}
		}
		// In the kill rounds, the agent dies right after the k-th success
		// of this round.
		k := 0
		if round < kills {
			k = 1 + rng.IntN(max(1, len(pending)/2))
		}
		got := sendKilling(t, scp, pending, k, func() { kill9(s.agent) })
		for _, p := range got {
			acked[p] = true
		}
		t.Logf("round %d: %d sent, %d acknowledged, kill after %d (%d of %d acknowledged in all)",
			round, len(pending), len(got), k, len(acked), len(files))
		if k > 0 {
			s.startAgent()
			waitListening(t, scp, s.agentLog)
		}
	}

	got, took := s.waitCommitted(3 * time.Minute)
	if len(got) < len(s.expected) {
		t.Fatalf("%d of %d instances committed after %s\nagent log tail:\n%s", len(got), len(s.expected), took, tail(s.agentLog.String(), 3000))
	}
	for uid, n := range got {
		if n != 1 {
			t.Errorf("instance %s committed %d times", uid, n)
		}
		if _, ok := s.expected[uid]; !ok {
			t.Errorf("unexpected instance %s at the relay", uid)
		}
	}
	// Every acknowledged instance went through the queue: stop the agent
	// and look. An instance the agent made durable but whose response the
	// kill cut off is queued by the restarted agent and sent again by
	// storescu: that duplicate is sealed anew (other ciphertext, same file
	// id) and the relay acknowledges it as the instance it holds, so it
	// ends committed too, never quarantined; at most one per kill and
	// association. Such a duplicate may still be on its way when the
	// relay already holds every instance: wait for the agent to settle.
	waitAgentSettled(t, filepath.Join(s.dir, "agent", "queue.db"), time.Minute)
	stop(s.agent)
	q, err := agent.OpenQueue(context.Background(), zerolog.Nop(), filepath.Join(s.dir, "agent", "queue.db"))
	if err != nil {
		t.Fatal(err)
	}
	counts, err := q.Counts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	dups, err := q.List(context.Background(), agent.StateQuarantined, 1000)
	q.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range dups {
		t.Errorf("item %d quarantined: %s", it.ID, it.Reason)
	}
	extra := counts[agent.StateCommitted] - len(s.expected)
	if extra < 0 || extra > 2*kills || agentPending(counts) != 0 {
		t.Errorf("queue %v; want %d committed, nothing pending, at most %d duplicates", counts, len(s.expected), 2*kills)
	}
	received, _ := os.ReadDir(filepath.Join(s.dir, "agent", "spool", "received"))
	left := 0
	for _, e := range received {
		if e.Type().IsRegular() {
			left++
		}
	}
	if left != 0 {
		t.Errorf("%d received files left after commit; want none", left)
	}
	t.Logf("kill-9 c-store summary: kills=%d instances=%d committed_at_relay=%d duplicates=%d (quarantined %d)",
		kills, len(files), len(got), extra, len(dups))
}

// waitAgentSettled waits, up to timeout, until the queue at path of a
// running agent holds no item in a state that is not final (read through
// a read-only connection beside the agent's own).
func waitAgentSettled(t *testing.T, path string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		n := -1
		if db, err := sql.Open("sqlite", "file:"+path+"?mode=ro"); err == nil {
			if db.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM items WHERE state NOT IN (?, ?)`,
				string(agent.StateCommitted), string(agent.StateQuarantined)).Scan(&n) != nil {
				n = -1 // busy: asked again
			}
			db.Close()
		}
		if n == 0 || time.Now().After(deadline) {
			return // the caller's check reports what is left
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// agentPending counts the items not in a final state.
func agentPending(c map[agent.State]int) (n int) {
	for st, v := range c {
		if !st.Final() {
			n += v
		}
	}
	return n
}

// sendKilling sends files to addr with two storescu processes at once and
// returns the files whose C-STORE got a success response. With k > 0 it
// calls kill right after the k-th success.
func sendKilling(t *testing.T, addr string, files []string, k int, kill func()) []string {
	t.Helper()
	h, p, _ := net.SplitHostPort(addr)
	var (
		mu    sync.Mutex
		acked []string
		once  sync.Once
		wg    sync.WaitGroup
	)
	for part := range 2 {
		var mine []string
		for i := part; i < len(files); i += 2 {
			mine = append(mine, files[i])
		}
		if len(mine) == 0 {
			continue
		}
		cmd := exec.Command("storescu", append([]string{"-v", "-aet", "MODALITY", "-aec", "DICOMGATE", h, p}, mine...)...)
		cmd.Env = append(os.Environ(), "TCP_NODELAY=1")
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = cmd.Stdout
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			defer cmd.Wait()
			// storescu -v logs "Sending file: PATH" before each request
			// and "Received Store Response (Success)" after its response.
			var current string
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				line := sc.Text()
				if i := strings.Index(line, "Sending file: "); i >= 0 {
					current = strings.TrimSpace(line[i+len("Sending file: "):])
				}
				if strings.Contains(line, "Received Store Response (Success)") && current != "" {
					mu.Lock()
					acked = append(acked, current)
					n := len(acked)
					mu.Unlock()
					current = ""
					if k > 0 && n >= k {
						once.Do(kill)
					}
				}
			}
			io.Copy(io.Discard, out)
		})
	}
	wg.Wait()
	if k > 0 {
		once.Do(kill) // fewer successes than k: kill at the end
	}
	return acked
}
