package agent

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// scrape GETs path from the agent's monitoring endpoint.
func scrape(t *testing.T, a *Agent, path string) (int, string) {
	t.Helper()
	addr := a.MetricsAddr()
	if addr == nil {
		t.Fatal("no metrics endpoint")
	}
	resp, err := http.Get("http://" + addr.String() + path)
	must(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	must(t, err)
	return resp.StatusCode, string(b)
}

// samples parses Prometheus text into "name{labels}" -> value.
func samples(t *testing.T, text string) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for line := range strings.Lines(text) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// runMonitoredAgent runs an agent watching a folder with its metrics
// endpoint on 127.0.0.1 and returns it with the watched folder.
func runMonitoredAgent(t *testing.T, s *testSite, stuckAfter time.Duration) (*Agent, string) {
	t.Helper()
	in := filepath.Join(s.dir, "incoming")
	must(t, os.MkdirAll(in, 0o700))
	s.cfg.Watch = []WatchConfig{{Path: in, Recursive: true, StableFor: 50 * time.Millisecond,
		RescanEvery: 200 * time.Millisecond, AfterCommit: Keep}}
	s.cfg.MetricsListen = "127.0.0.1:0"
	s.cfg.StuckAfter = stuckAfter
	s.cfg.SetDefaults()
	must(t, s.cfg.Validate())
	a := newTestAgent(t, s)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run = %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("Run did not stop")
		}
	})
	eventually(t, "metrics endpoint", func() bool { return a.MetricsAddr() != nil })
	return a, in
}

func TestMetricsAfterTransfer(t *testing.T) {
	r := newTestRelay(t)
	r.start()
	s := enrolledSite(t, r)
	a, in := runMonitoredAgent(t, s, time.Hour)

	if code, _ := scrape(t, a, "/healthz"); code != http.StatusOK {
		t.Errorf("/healthz = %d", code)
	}
	dir, _ := twentyFiles(t, s)
	must(t, os.Rename(dir, filepath.Join(in, "study")))
	eventually(t, "20 files committed by the relay", func() bool { c, _ := r.stats(); return c == 20 })
	var text string
	var m map[string]float64
	// A scrape gathers the counters and the queue's gauges (read from its
	// database) concurrently: the last commit can show in one and not yet
	// in the other. Wait until both have it.
	eventually(t, "20 commits counted and in the queue", func() bool {
		_, text = scrape(t, a, "/metrics")
		m = samples(t, text)
		return m[`dicomgate_agent_files_total{result="committed"}`] == 20 &&
			m[`dicomgate_agent_queue_items{state="committed"}`] == 20
	})
	want := map[string]float64{
		`dicomgate_agent_queue_items{state="committed"}`:    20,
		`dicomgate_agent_queue_items{state="seen"}`:         0,
		`dicomgate_agent_queue_items{state="quarantined"}`:  0,
		`dicomgate_agent_files_total{result="quarantined"}`: 0,
		`dicomgate_agent_files_total{result="retried"}`:     0,
		`dicomgate_agent_upload_seconds_count`:              20,
		`dicomgate_agent_oldest_waiting_seconds`:            0,
		`dicomgate_agent_queue_stuck`:                       0,
	}
	for k, v := range want {
		if got, ok := m[k]; !ok || got != v {
			t.Errorf("%s = %v (present %v); want %v", k, got, ok, v)
		}
	}
	// What must never show: file ids, pseudonymous UIDs, source paths.
	var size int64
	bad := []string{s.dir, "2.25."}
	r.mu.Lock()
	for id, rc := range r.committed {
		size += rc.Size
		m := r.manifests[id]
		bad = append(bad, id, m.StudyInstanceUID, m.SeriesInstanceUID, m.SOPInstanceUID)
	}
	r.mu.Unlock()
	filepath.WalkDir(in, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			bad = append(bad, p, d.Name())
		}
		return nil
	})
	if got := m["dicomgate_agent_bytes_sent_total"]; got != float64(size) || size == 0 {
		t.Errorf("bytes sent = %v; want %d", got, size)
	}
	checkNoPHIInMetrics(t, text, bad)

	code, body := scrape(t, a, "/readyz")
	if code != http.StatusOK {
		t.Errorf("/readyz = %d %s", code, body)
	}
	var st Status
	_, body = scrape(t, a, "/status")
	must(t, json.Unmarshal([]byte(body), &st))
	if !st.Ready || st.Queue.Stuck || len(st.Alerts) != 0 || st.Queue.Items[StateCommitted] != 20 {
		t.Errorf("/status = %s", body)
	}
}

// checkNoPHIInMetrics fails if a metric line holds one of bad (UIDs,
// file ids, paths).
func checkNoPHIInMetrics(t *testing.T, text string, bad []string) {
	t.Helper()
	for line := range strings.Lines(text) {
		for _, b := range bad {
			if b != "" && strings.Contains(line, b) {
				t.Errorf("metric line %q holds %q", strings.TrimSpace(line), b)
			}
		}
	}
}

func TestMetricsQueueStuck(t *testing.T) {
	r := newTestRelay(t)
	r.start()
	s := enrolledSite(t, r)
	r.stop() // unreachable until started again
	a, in := runMonitoredAgent(t, s, 100*time.Millisecond)

	dir, _ := twentyFiles(t, s)
	must(t, os.Rename(dir, filepath.Join(in, "study")))
	var m map[string]float64
	eventually(t, "queue stuck", func() bool {
		_, text := scrape(t, a, "/metrics")
		m = samples(t, text)
		return m["dicomgate_agent_queue_stuck"] == 1
	})
	if m["dicomgate_agent_oldest_waiting_seconds"] < 0.1 {
		t.Errorf("oldest waiting %v s while stuck", m["dicomgate_agent_oldest_waiting_seconds"])
	}
	eventually(t, "retries counted", func() bool {
		_, text := scrape(t, a, "/metrics")
		return samples(t, text)[`dicomgate_agent_files_total{result="retried"}`] > 0
	})
	var st Status
	_, body := scrape(t, a, "/status")
	must(t, json.Unmarshal([]byte(body), &st))
	if !st.Queue.Stuck || len(st.Alerts) != 1 || !strings.Contains(st.Alerts[0], "queue stuck") {
		t.Errorf("/status while stuck = %s", body)
	}
	if code, body := scrape(t, a, "/readyz"); code != http.StatusServiceUnavailable ||
		!strings.Contains(body, "relay unreachable") {
		t.Errorf("/readyz with the relay down = %d %s", code, body)
	}

	r.start()
	eventually(t, "queue no longer stuck", func() bool {
		_, text := scrape(t, a, "/metrics")
		m = samples(t, text)
		return m["dicomgate_agent_queue_stuck"] == 0 && m[`dicomgate_agent_files_total{result="committed"}`] == 20
	})
	if code, body := scrape(t, a, "/readyz"); code != http.StatusOK {
		t.Errorf("/readyz after the relay came back = %d %s", code, body)
	}
}

func TestMonitorConfig(t *testing.T) {
	c := Config{MonitorConfig: MonitorConfig{MetricsListen: "nohostport", StuckAfter: -time.Second}}
	c.SetDefaults()
	err := c.Validate()
	for _, want := range []string{"metrics_listen", "stuck_after"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate = %v; want a %s problem", err, want)
		}
	}
	var d Config
	d.SetDefaults()
	if d.stuckAfter() != DefaultStuckAfter || d.MetricsListen != "" {
		t.Errorf("defaults: stuck_after %s, metrics_listen %q", d.stuckAfter(), d.MetricsListen)
	}
	path := filepath.Join(t.TempDir(), "agent.yaml")
	must(t, os.WriteFile(path, []byte("metrics_listen: 127.0.0.1:9464\nstuck_after: 5m\n"), 0o600))
	l, err := Load(path)
	must(t, err)
	if l.MetricsListen != "127.0.0.1:9464" || l.StuckAfter != 5*time.Minute {
		t.Errorf("Load: %+v", l.MonitorConfig)
	}
}
