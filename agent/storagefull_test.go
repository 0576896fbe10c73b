package agent

import (
	"bytes"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"dicomgate/transport"
)

// TestIsStorageFull: a real ENOSPC (a write to /dev/full) and a real
// SQLITE_FULL (an insert past the database's page limit) are the agent's
// disk full, the relay's refusal for lack of storage is the relay's, and
// other failures neither.
func TestIsStorageFull(t *testing.T) {
	cases := map[string]struct {
		err  error
		disk string
	}{
		"relay refusal": {fmt.Errorf("agent: upload: %w", fmt.Errorf("%w: %w", transport.ErrRelayUnavailable, transport.ErrRelayStorageFull)), diskRelay},
		"relay down":    {fmt.Errorf("agent: upload: %w", transport.ErrRelayUnavailable), ""},
		"permanent":     {Permanent("cannot anonymise", errors.New("malformed dicom")), ""},
		"nil":           {nil, ""},
	}
	if f, err := os.OpenFile("/dev/full", os.O_WRONLY, 0); err == nil {
		_, werr := f.Write([]byte("x"))
		f.Close()
		cases["write to /dev/full"] = struct {
			err  error
			disk string
		}{fmt.Errorf("agent: spool write: %w", werr), diskAgent}
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "q.db")+"?_pragma=max_page_count(8)")
	must(t, err)
	defer db.Close()
	db.SetMaxOpenConns(1)
	_, err = db.Exec(`CREATE TABLE t (v BLOB)`)
	must(t, err)
	var serr error
	for range 100 {
		if _, serr = db.Exec(`INSERT INTO t VALUES (zeroblob(4096))`); serr != nil {
			break
		}
	}
	cases["queue past max_page_count"] = struct {
		err  error
		disk string
	}{fmt.Errorf("agent: queue add: %w", serr), diskAgent}
	for name, tc := range cases {
		if got := fullDisk(tc.err); got != tc.disk {
			t.Errorf("%s: fullDisk(%v) = %q, want %q", name, tc.err, got, tc.disk)
		}
	}
}

// syncLog is a log sink safe for concurrent writers.
type syncLog struct {
	mu sync.Mutex
	b  bytes.Buffer // +checklocks:mu
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *syncLog) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.b.String(), s)
}

// TestStorageAlarmOncePerEpisode: many failures raise the alarm once
// (one warning, the gauge at 1, one change signalled); a success of a
// writer that was not failing does not clear it; the failing writer's
// success clears it after the quiet time; the next failure is a new
// episode.
func TestStorageAlarmOncePerEpisode(t *testing.T) {
	var log syncLog
	q := openTestQueue(t, filepath.Join(t.TempDir(), "q.db"))
	defer q.Close()
	m := NewMetrics(q, time.Hour)
	a := newStorageAlarm(zerolog.New(&log), 50*time.Millisecond)
	a.setMetrics(m)
	gauge := func() float64 {
		mfs, err := m.Registry().Gather()
		must(t, err)
		for _, mf := range mfs {
			for _, s := range mf.GetMetric() {
				if mf.GetName() == "dicomgate_agent_storage_full" && s.GetLabel()[0].GetValue() == diskAgent {
					return s.GetGauge().GetValue()
				}
			}
		}
		t.Fatal("no dicomgate_agent_storage_full{disk=\"agent\"}")
		return 0
	}
	const warn = "agent storage full: paused until space returns"

	raised := a.changes()
	for range 10 {
		a.failed(diskAgent, "process", errors.New("no space left on device"))
	}
	<-raised
	if n := log.count(warn); n != 1 || !a.full(diskAgent) || gauge() != 1 || a.full(diskRelay) {
		t.Fatalf("after 10 failures: %d warnings, full %v, gauge %v", n, a.full(diskAgent), gauge())
	}
	a.succeeded(diskAgent, "upload") // had room all along
	time.Sleep(100 * time.Millisecond)
	if !a.full(diskAgent) {
		t.Fatal("cleared by a writer that was not failing")
	}
	cleared := a.changes()
	a.succeeded(diskAgent, "process")
	<-cleared
	if a.full(diskAgent) || gauge() != 0 || log.count("storage available again") != 1 {
		t.Fatalf("after recovery: full %v, gauge %v\n%s", a.full(diskAgent), gauge(), log.b.String())
	}
	a.failed(diskAgent, writerIntake, errors.New("database or disk is full"))
	if n := log.count(warn); n != 2 || !a.full(diskAgent) {
		t.Fatalf("second episode: %d warnings, full %v", n, a.full(diskAgent))
	}
}

// TestStagePauseAdmits: a stage not paused claims for every idle worker;
// paused, none until its back-off is over, then one when no item is in
// progress; a success lifts the pause.
func TestStagePauseAdmits(t *testing.T) {
	var sp stagePause
	now := time.Now()
	if n, _ := sp.admit(now, 3, 4); n != 3 {
		t.Fatalf("not paused: admits %d of 3 idle", n)
	}
	retry := RetryConfig{Min: time.Second, Max: 4 * time.Second}
	sp.failed(now, retry)
	if n, wait := sp.admit(now, 4, 4); n != 0 || wait <= 0 || wait > retry.Max {
		t.Fatalf("paused: admits %d, wait %s", n, wait)
	}
	later := now.Add(retry.Max)
	if n, wait := sp.admit(later, 3, 4); n != 0 || wait != 0 {
		t.Fatalf("paused, one item in progress: admits %d, wait %s", n, wait)
	}
	if n, _ := sp.admit(later, 4, 4); n != 1 {
		t.Fatalf("paused, back-off over: admits %d, want one probe", n)
	}
	sp.succeeded()
	if n, _ := sp.admit(later, 4, 4); n != 4 {
		t.Fatalf("after a success: admits %d of 4", n)
	}
}
