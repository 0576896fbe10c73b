package e2e

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"dicomgate/internal/dicomtest"
)

// waitSome waits (bounded) until at least n files are committed, so that
// a fault lands while files flow.
func (s *site) waitSome(n int) int {
	s.t.Helper()
	c := s.client()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		got, err := committedFiles(context.Background(), c)
		if err == nil && len(got) >= n {
			return len(got)
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%d of %d files committed before the fault (err %v)\n%s", len(got), n, err, tail(s.agentLog.String(), 2000))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// logErrors counts error and warning lines in a JSON log.
func logErrors(log string) int {
	return strings.Count(log, `"level":"error"`) + strings.Count(log, `"level":"warn"`)
}

// TestStorageS3Restart: the relay stores in a real S3 server (versitygw),
// which is killed mid-run and started again after a few seconds,
// DICOMGATE_S3_OUTAGES times (default 2). Relay and agent must wait,
// report the failures, recover on their own and lose nothing: the
// invariants of TestKillNine, with the objects counted in the bucket.
func TestStorageS3Restart(t *testing.T) {
	outages := envInt("DICOMGATE_S3_OUTAGES", 2)
	patients := envInt("DICOMGATE_STORAGE_PATIENTS", 12)
	s3, cfg := startS3Proc(t)
	s := newSite(t, fmt.Sprintf(`store:
  type: s3
  s3: {endpoint: %q, bucket: %q, access_key: %q, secret_key: %q, region: %q, create_bucket: true}
`, cfg.Endpoint, cfg.Bucket, cfg.AccessKey, string(cfg.SecretKey), cfg.Region))
	s.startRelay()
	defer func() { kill9(s.relay) }()
	s.enrol()
	key := s.generate(31, dicomtest.CorpusOptions{Patients: patients, Slices: 23, NoExtras: true})
	s.startAgent()
	defer func() { kill9(s.agent) }()
	s.drop(key)

	var down time.Duration
	for i := range outages {
		before := s.waitSome((i + 1) * len(s.expected) / (outages + 2))
		s3.stop()
		outage := time.Duration(3+2*i) * time.Second
		time.Sleep(outage)
		down += outage
		during, err := committedFiles(context.Background(), s.client())
		if err != nil {
			t.Errorf("relay API during the S3 outage: %v", err)
		}
		if len(during) < before {
			t.Errorf("committed files went from %d to %d during the outage", before, len(during))
		}
		if !alive(s.relay) || !alive(s.agent) {
			t.Fatalf("a process exited during the S3 outage:\n%s", tail(s.relayLog.String(), 2000))
		}
		t.Logf("outage %d: S3 down %s with %d committed before, %d during", i+1, outage, before, len(during))
		s3.start()
	}
	reported := logErrors(s.relayLog.String()) + logErrors(s.agentLog.String())
	if reported == 0 {
		t.Errorf("neither relay nor agent reported the S3 outage")
	}
	o := s.checkInvariants(3*time.Minute, s3Objects(cfg))
	summary(t, "storage-s3-restart", o, fmt.Sprintf("faults=%d down=%s reported=%d", outages, down, reported))
}

// TestStorageDBLocked: another process holds BEGIN EXCLUSIVE on a SQLite
// database mid-run, alternately the relay's metadata database and the
// agent's queue, for 3 s or 12 s (past both busy timeouts of 10 s),
// DICOMGATE_DB_LOCKS times in all (default 2: the relay's for 12 s, the
// agent's for 3 s; 4 covers every pair). The system must wait or
// retry, recover once the lock is gone and lose nothing.
func TestStorageDBLocked(t *testing.T) {
	locks := envInt("DICOMGATE_DB_LOCKS", 2)
	patients := envInt("DICOMGATE_STORAGE_PATIENTS", 12)
	s := newSite(t, "")
	s.startRelay()
	defer func() { kill9(s.relay) }()
	s.enrol()
	key := s.generate(41, dicomtest.CorpusOptions{Patients: patients, Slices: 23, NoExtras: true})
	s.startAgent()
	defer func() { kill9(s.agent) }()
	s.drop(key)

	meta, queue := filepath.Join(s.dir, "relay", "meta.db"), filepath.Join(s.dir, "agent", "queue.db")
	plan := []struct {
		path string
		hold time.Duration
	}{{meta, 12 * time.Second}, {queue, 3 * time.Second}, {queue, 12 * time.Second}, {meta, 3 * time.Second}}
	var held time.Duration
	for i := range locks {
		s.waitSome(min((i+1)*len(s.expected)/(locks+2), len(s.expected)))
		path, hold := plan[i%len(plan)].path, plan[i%len(plan)].hold
		holdExclusive(t, path, hold)
		held += hold
		if !alive(s.relay) || !alive(s.agent) {
			t.Fatalf("a process exited while %s was locked:\nrelay:\n%s\nagent:\n%s", filepath.Base(path),
				tail(s.relayLog.String(), 2000), tail(s.agentLog.String(), 2000))
		}
		t.Logf("lock %d: %s held exclusively for %s", i+1, filepath.Base(path), hold)
	}
	reported := logErrors(s.relayLog.String()) + logErrors(s.agentLog.String())
	o := s.checkInvariants(3*time.Minute, s.fsObjects)
	summary(t, "storage-db-locked", o, fmt.Sprintf("faults=%d held=%s reported=%d", locks, held, reported))
}

// holdExclusive takes an exclusive lock on the SQLite database at path
// (waiting up to 10 s for it) and holds it for d.
func holdExclusive(t *testing.T, path string, d time.Duration) {
	t.Helper()
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), d+30*time.Second)
	defer cancel()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN EXCLUSIVE"); err != nil {
		t.Fatalf("lock %s: %v", filepath.Base(path), err)
	}
	time.Sleep(d)
	if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatalf("unlock %s: %v", filepath.Base(path), err)
	}
}

// alive reports whether cmd's process is still running (not exited nor a
// zombie waiting to be reaped). Where /proc is missing it says yes.
func alive(cmd *exec.Cmd) bool {
	if cmd == nil || cmd.Process == nil || cmd.ProcessState != nil {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", cmd.Process.Pid))
	if err != nil {
		return !errors.Is(err, fs.ErrNotExist) || !fileExists("/proc/self/stat")
	}
	// pid (comm) state ...: the state follows the last ')'.
	i := strings.LastIndexByte(string(stat), ')')
	return i < 0 || i+2 >= len(stat) || (stat[i+2] != 'Z' && stat[i+2] != 'X')
}
