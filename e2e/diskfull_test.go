package e2e

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"dicomgate/internal/dicomtest"
)

// diskLeave is what a ballast leaves free: less than one sealed file
// (128x128 slices, ~35 KB) and than a study's ImagingStudy object, so
// writes fail part way through a file.
const diskLeave = 4 << 10

// diskFullCase is a folder of the site put on its own small filesystem
// and filled while files flow.
type diskFullCase struct {
	name  string
	mount string // folder under the site's directory
	agent bool   // the agent's disk (else the relay's)
	// sizeMiB is the filesystem's size beyond what the committed objects
	// need, when they live on it.
	sizeMiB int
	objects bool // the relay's objects live on it
	// relayYAML and agentYAML are added to their configurations.
	relayYAML, agentYAML string
}

// fileStaging turns the relay's in-memory staging off: every upload is
// staged in a file, so that a full staging folder meets every upload
// (in memory, the ~35 KB files of these tests never touch it).
const fileStaging = "staging:\n  memory_budget: -1\n"

// fileSpool turns the agent's in-memory sealing off: every file is sealed
// into the spool folder, so that a full spool meets every file (in
// memory, files reach the spool only when their upload fails).
const fileSpool = "spool_memory: -1\n"

// TestStorageRelayDiskFull fills, with a ballast file on a real tmpfs,
// the relay's staging folder, its object store, or its whole data
// folder (staging, objects, SQLite metadata and audit trail) while files
// flow, DICOMGATE_DISKFULL_EPISODES times (default 1), with
// DICOMGATE_DISKFULL_PATIENTS patients (default 4, ~100 files). The relay
// must refuse with a retryable "storage full" (nothing partial committed,
// no half object left), report it once per episode (log, metric, audit
// event), the agent must back off and retry, and once the ballast is gone
// every file is committed exactly once: the invariants of TestKillNine,
// plus `audit verify`. The staging case stages in files (fileStaging);
// relay/staging_memory_test.go covers a full staging folder under
// uploads held in memory.
func TestStorageRelayDiskFull(t *testing.T) {
	for i, tc := range []diskFullCase{
		{name: "staging", mount: "relay/staging", sizeMiB: 16, relayYAML: fileStaging},
		{name: "objects", mount: "relay/objects", sizeMiB: 16, objects: true},
		{name: "datadir", mount: "relay", sizeMiB: 32, objects: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // each on its own site; mostly waiting
			runDiskFull(t, tc, uint64(51+i))
		})
	}
}

// TestStorageAgentDiskFull fills, the same way, the agent's spool folder
// (sealed files), or the agent's whole folder (spool, SQLite queue,
// identity, quarantine) while files flow. Sealing a file that hits ENOSPC
// must not quarantine it nor lose its source; the agent pauses, reports
// it (log, metric, status report to the relay, audited there once per
// episode), retries, and once the ballast is gone every file is committed
// exactly once and the queue database is intact.
func TestStorageAgentDiskFull(t *testing.T) {
	for i, tc := range []diskFullCase{
		{name: "spool", mount: "agent/spool", agent: true, sizeMiB: 16, agentYAML: fileSpool},
		{name: "agentdir", mount: "agent", agent: true, sizeMiB: 32},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			runDiskFull(t, tc, uint64(61+i))
		})
	}
}

// runDiskFull runs one disk-full case: the corpus is dropped in batches,
// one before the first fault and one into each fault, so that every
// episode has files to seal or upload onto the full disk.
func runDiskFull(t *testing.T, tc diskFullCase, seed uint64) {
	episodes := envInt("DICOMGATE_DISKFULL_EPISODES", 1)
	patients := envInt("DICOMGATE_DISKFULL_PATIENTS", 4)
	hold := time.Duration(envInt("DICOMGATE_DISKFULL_HOLD_MS", 2000)) * time.Millisecond
	suite := "storage-" + map[bool]string{true: "agent", false: "relay"}[tc.agent] + "-full-" + tc.name

	s := newSite(t, tc.relayYAML)
	s.addAgentYAML(tc.agentYAML)
	mnt := filepath.Join(s.dir, filepath.FromSlash(tc.mount))
	size := tc.sizeMiB
	if tc.objects {
		size += patients // ~25 files of ~35 KB each
	}
	mountTmpfs(t, mnt, size)
	agentMetrics := s.agentMonitored()
	s.startRelay()
	defer func() { kill9(s.relay) }()
	s.enrol()
	key := s.generate(seed, dicomtest.CorpusOptions{Patients: patients, Slices: 23, Rows: 128, Cols: 128, NoExtras: true})
	s.startAgent()
	defer func() { kill9(s.agent) }()
	batches := splitFiles(key, episodes+1)
	s.drop(batches[0])

	relayGauge, relayAudit := `dicomgate_relay_storage_full`, "storage.full"
	if tc.agent {
		relayGauge, relayAudit = `dicomgate_relay_agents_storage_full{project="demo"}`, "agent.storage_full"
	}
	var dropped int
	for i := range episodes {
		// The disk fills when nothing is in flight, so that no file
		// finishing frees room for the next (the disk would then be the
		// bottleneck, not full) and every file dropped next meets it full.
		dropped += len(batches[i].Files)
		before := s.waitQuiet(dropped * len(s.expected) / s.inputs)
		b := fillDisk(t, mnt, diskLeave)
		s.drop(batches[i+1])
		dropped += len(batches[i+1].Files)
		// Reported: the relay's gauge (its own disk, or the agent's status
		// report) and, for the agent, its own metric.
		s.waitMetric(s.relayMetrics, relayGauge, 1)
		if tc.agent {
			s.waitMetric(agentMetrics, `dicomgate_agent_storage_full{disk="agent"}`, 1)
		}
		time.Sleep(hold)
		during, err := committedFiles(context.Background(), s.client())
		if err != nil {
			t.Errorf("relay API while the disk is full: %v", err)
		}
		if len(during) < before {
			t.Errorf("committed files went from %d to %d while the disk was full", before, len(during))
		}
		if !alive(s.relay) || !alive(s.agent) {
			t.Fatalf("a process exited while the disk was full:\nrelay:\n%s\nagent:\n%s",
				tail(s.relayLog.String(), 2000), tail(s.agentLog.String(), 2000))
		}
		if q := quarantined(t, filepath.Join(s.dir, "agent", "quarantine")); q != 0 {
			t.Errorf("%d items quarantined while the disk was full:\n%s", q, tail(s.agentLog.String(), 3000))
		}
		if n := countFiles(t, filepath.Join(s.dir, "inbox")); n != dropped {
			t.Errorf("%d source files in the watched folder while the disk was full, %d dropped", n, dropped)
		}
		dropped -= len(batches[i+1].Files)
		t.Logf("episode %d: %s full for %s, %d committed before, %d during", i+1, tc.mount, hold, before, len(during))
		b.remove()
		// The gauges clear once space is back and writes succeed again:
		// the agent sends its status at once when its disk has room
		// (checked while it runs); the relay's episode ends 10 s after
		// its last refusal (the last one checked after the invariants).
		// The next fault is a new episode only after that.
		if tc.agent {
			s.waitMetric(agentMetrics, `dicomgate_agent_storage_full{disk="agent"}`, 0)
			s.waitMetric(s.relayMetrics, relayGauge, 0)
		} else if i < episodes-1 {
			s.waitMetric(s.relayMetrics, relayGauge, 0)
		}
	}
	retried, _ := metricValue(agentMetrics(), `dicomgate_agent_files_total{result="retried"}`)
	o := s.checkInvariants(3*time.Minute, s.fsObjects)
	s.waitMetric(s.relayMetrics, relayGauge, 0)
	refusals, _ := metricValue(s.relayMetrics(), "dicomgate_relay_storage_full_refusals_total")

	// Reported once per episode, in the log and in the audit trail, which
	// still verifies.
	warn := `"relay storage full: refusing uploads until space returns"`
	log := s.relayLog.String()
	if tc.agent {
		warn, log = `"agent storage full: paused until space returns"`, s.agentLog.String()
	}
	if n := strings.Count(log, warn); n != episodes {
		t.Errorf("%s logged %d times for %d episodes", warn, n, episodes)
	}
	if n := strings.Count(s.agentLog.String(), `"cannot queue files; will retry"`); n > episodes {
		t.Errorf("the watcher logged %d queueing failures in %d episodes: once per episode at most", n, episodes)
	}
	if n := s.auditCount(relayAudit); n != episodes {
		t.Errorf("%d %s audit events for %d episodes", n, relayAudit, episodes)
	}
	if out, err := exec.Command(binary, "audit", "verify", "--config", filepath.Join(s.dir, "relay.yaml")).CombinedOutput(); err != nil {
		t.Errorf("audit verify: %v\n%s", err, out)
	}
	if tc.agent && refusals != 0 {
		t.Errorf("relay refused %v uploads for storage with only the agent's disk full", refusals)
	}
	if !tc.agent && refusals == 0 {
		t.Errorf("the relay counted no storage-full refusal")
	}
	// No half-written file anywhere: staging, object temporaries, spool
	// temporaries.
	for _, p := range leftovers(t, s.dir) {
		t.Errorf("left behind: %s", p)
	}
	queueIntact(t, filepath.Join(s.dir, "agent", "queue.db"))
	if tc.objects {
		// Each study's ImagingStudy object, whose writes failed on the
		// full disk, is written again and lists every file.
		s.waitImagingStudies()
	}
	summary(t, suite, o, fmt.Sprintf("faults=%d held=%s refusals=%.0f retried=%.0f", episodes, time.Duration(episodes)*hold, refusals, retried))
}

// agentMonitored gives the agent a metrics endpoint and the relay's API
// (status reports) and returns a scraper of its metrics.
func (s *site) agentMonitored() func() string {
	s.t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(s.t))
	p := filepath.Join(s.dir, "agent.yaml")
	data, err := os.ReadFile(p)
	if err != nil {
		s.t.Fatal(err)
	}
	cfg := strings.Replace(string(data), "address: "+s.relayAddr+"\n",
		"address: "+s.relayAddr+"\n  api: "+s.apiURL+"\n", 1)
	writeFile(s.t, p, cfg+"metrics_listen: "+addr+"\n")
	c := &http.Client{Timeout: 10 * time.Second}
	return func() string { return scrape(c, "http://"+addr+"/metrics") }
}

// waitMetric waits (bounded) until series in what scrape returns has
// value want.
func (s *site) waitMetric(scrape func() string, series string, want float64) {
	s.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		v, ok := metricValue(scrape(), series)
		if ok && v == want {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%s is %v (present %v), want %v\nrelay log tail:\n%s\nagent log tail:\n%s", series, v, ok, want,
				tail(s.relayLog.String(), 3000), tail(s.agentLog.String(), 3000))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitQuiet waits (bounded) until n files are committed and none is in
// flight: no sealed file in the agent's spool, no staging file at the
// relay. It returns the committed count.
func (s *site) waitQuiet(n int) int {
	s.t.Helper()
	got := s.waitSome(n)
	deadline := time.Now().Add(time.Minute)
	for {
		sealed, _ := filepath.Glob(filepath.Join(s.dir, "agent", "spool", "*.sealed"))
		staged, _ := filepath.Glob(filepath.Join(s.dir, "relay", "staging", "*.part"))
		if len(sealed)+len(staged) == 0 {
			return got
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%d sealed and %d staged files still in flight with %d committed", len(sealed), len(staged), got)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitImagingStudies waits (bounded) until the relay's stored ImagingStudy
// objects list every expected file.
func (s *site) waitImagingStudies() {
	s.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		n := 0
		paths, _ := filepath.Glob(filepath.Join(s.dir, "relay", "objects", "projects", "demo", "studies", "*", "imagingstudy.json"))
		for _, p := range paths {
			var is struct {
				NumberOfInstances int `json:"numberOfInstances"`
			}
			if b, err := os.ReadFile(p); err == nil && json.Unmarshal(b, &is) == nil {
				n += is.NumberOfInstances
			}
		}
		if n == len(s.expected) {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("stored ImagingStudy objects list %d of %d files\n%s", n, len(s.expected), tail(s.relayLog.String(), 3000))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// countFiles counts the regular files below dir.
func countFiles(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			n++
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// auditCount counts the relay's audit events with action.
func (s *site) auditCount(action string) int {
	s.t.Helper()
	out, err := exec.Command(binary, "audit", "export", "--config", filepath.Join(s.dir, "relay.yaml"),
		"--format", "csv", "--action", action).Output()
	if err != nil {
		s.t.Fatalf("audit export: %v", err)
	}
	return strings.Count(string(out), ","+action+",")
}

// splitFiles cuts key's files into n batches of whole studies' worth (in
// generation order).
func splitFiles(key *dicomtest.Key, n int) []*dicomtest.Key {
	out := make([]*dicomtest.Key, n)
	for i := range n {
		k := *key
		k.Files = key.Files[i*len(key.Files)/n : (i+1)*len(key.Files)/n]
		out[i] = &k
	}
	return out
}

// quarantined counts the quarantine reason files in dir.
func quarantined(t *testing.T, dir string) int {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.reason"))
	if err != nil {
		t.Fatal(err)
	}
	return len(m)
}

// leftovers lists half-written files under dir: relay staging files,
// object-store temporaries and spool temporaries.
func leftovers(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		n := d.Name()
		if strings.HasSuffix(n, ".part") && strings.Contains(filepath.ToSlash(p), "/relay/staging/") ||
			strings.HasSuffix(n, "~tmp") || strings.Contains(n, ".sealed.tmp-") {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	return out
}

// queueIntact runs SQLite's integrity check on the agent's queue (the
// agent is stopped).
func queueIntact(t *testing.T, path string) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var res string
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&res); err != nil || res != "ok" {
		t.Errorf("queue database integrity check: %q, %v", res, err)
	}
}

// TestStorageRelayStagingTight gives the relay a staging folder smaller
// than the files in flight, with no ballast: the agent seals every file
// while the relay is down, then the relay starts and 8 uploads of ~130 KB
// meet 512 KiB of staging at once, part way through. Partial staging
// files must not hold the space the others need (every upload would stall
// at its own for ever): the system keeps moving and commits every file
// exactly once. The relay stages in files (fileStaging).
func TestStorageRelayStagingTight(t *testing.T) {
	patients := max(envInt("DICOMGATE_DISKFULL_PATIENTS", 4)/2, 1)
	s := newSite(t, fileStaging)
	mountTmpfsSize(t, filepath.Join(s.dir, "relay", "staging"), "512k")
	s.startRelay()
	s.enrol()
	stop(s.relay)
	key := s.generate(71, dicomtest.CorpusOptions{Patients: patients, Slices: 23, Rows: 256, Cols: 256,
		TransferSyntaxes: []string{dicomtest.ExplicitVRLittleEndian}, NoExtras: true})
	s.startAgent()
	defer func() { kill9(s.agent) }()
	s.drop(key)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		sealed, _ := filepath.Glob(filepath.Join(s.dir, "agent", "spool", "*.sealed"))
		if len(sealed) == len(s.expected) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d files sealed with the relay down\n%s", len(sealed), len(s.expected), tail(s.agentLog.String(), 3000))
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.startRelay()
	defer func() { kill9(s.relay) }()
	o := s.checkInvariants(3*time.Minute, s.fsObjects)
	refusals, _ := metricValue(s.relayMetrics(), "dicomgate_relay_storage_full_refusals_total")
	if refusals == 0 {
		t.Errorf("no upload met the full staging folder: the test proves nothing")
	}
	for _, p := range leftovers(t, s.dir) {
		t.Errorf("left behind: %s", p)
	}
	summary(t, "storage-relay-staging-tight", o, fmt.Sprintf("staging=512KiB refusals=%.0f", refusals))
}
