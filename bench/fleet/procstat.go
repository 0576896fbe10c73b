package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat
// (100 on every Linux this runs on).
const clockTicks = 100

// procSample is one reading of a process.
type procSample struct {
	at      time.Time
	rssKiB  int64
	hwmKiB  int64
	cpuTick int64 // utime + stime
}

// readProc reads /proc/PID/status and /proc/PID/stat.
func readProc(pid int) (procSample, error) {
	s := procSample{at: time.Now()}
	id := "self"
	if pid > 0 {
		id = strconv.Itoa(pid)
	}
	st, err := os.ReadFile("/proc/" + id + "/status")
	if err != nil {
		return s, err
	}
	for _, line := range strings.Split(string(st), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		n, _ := strconv.ParseInt(f[0], 10, 64)
		switch k {
		case "VmRSS":
			s.rssKiB = n
		case "VmHWM":
			s.hwmKiB = n
		}
	}
	stat, err := os.ReadFile("/proc/" + id + "/stat")
	if err != nil {
		return s, err
	}
	// Fields after the command name, which is in parentheses: state is
	// field 3, utime 14, stime 15.
	rest := string(stat)
	if i := strings.LastIndexByte(rest, ')'); i >= 0 {
		rest = rest[i+1:]
	}
	f := strings.Fields(rest)
	if len(f) > 12 {
		u, _ := strconv.ParseInt(f[11], 10, 64)
		k, _ := strconv.ParseInt(f[12], 10, 64)
		s.cpuTick = u + k
	}
	return s, nil
}

// monitor samples the relay processes (and this one, the fleet) every
// 500 ms between start and stop.
type monitor struct {
	pids []int

	mu      sync.Mutex
	maxRSS  []int64 // per relay, KiB, during the window
	maxSelf int64
	first   []procSample
	last    []procSample
	stopCh  chan struct{}
	doneCh  chan struct{}
}

func newMonitor(pids []int) *monitor { return &monitor{pids: pids} }

// start opens a measurement window.
func (m *monitor) start() {
	m.mu.Lock()
	m.maxRSS = make([]int64, len(m.pids))
	m.maxSelf = 0
	m.first = make([]procSample, len(m.pids))
	m.last = make([]procSample, len(m.pids))
	for i, p := range m.pids {
		s, _ := readProc(p)
		m.first[i], m.last[i], m.maxRSS[i] = s, s, s.rssKiB
	}
	m.stopCh, m.doneCh = make(chan struct{}), make(chan struct{})
	m.mu.Unlock()
	go func() {
		defer close(m.doneCh)
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-m.stopCh:
				m.sample()
				return
			case <-t.C:
				m.sample()
			}
		}
	}()
}

func (m *monitor) sample() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, p := range m.pids {
		s, err := readProc(p)
		if err != nil {
			continue
		}
		m.last[i] = s
		m.maxRSS[i] = max(m.maxRSS[i], s.rssKiB)
	}
	if s, err := readProc(0); err == nil {
		m.maxSelf = max(m.maxSelf, s.rssKiB)
	}
}

// window is what a measurement window saw.
type window struct {
	relayCPU    float64 // cores, summed over relays
	relayMaxRSS int64   // KiB, summed over relays of each one's max
	fleetMaxRSS int64   // KiB
}

// stop closes the window.
func (m *monitor) stop() window {
	close(m.stopCh)
	<-m.doneCh
	m.mu.Lock()
	defer m.mu.Unlock()
	var w window
	for i := range m.pids {
		dt := m.last[i].at.Sub(m.first[i].at).Seconds()
		if dt > 0 {
			w.relayCPU += float64(m.last[i].cpuTick-m.first[i].cpuTick) / clockTicks / dt
		}
		w.relayMaxRSS += m.maxRSS[i]
	}
	w.fleetMaxRSS = m.maxSelf
	return w
}

// snapshot describes the current RSS of the relays and the fleet.
func (m *monitor) snapshot() string {
	var b strings.Builder
	for i, p := range m.pids {
		s, err := readProc(p)
		if err != nil {
			fmt.Fprintf(&b, "relay%d=gone ", i)
			continue
		}
		fmt.Fprintf(&b, "relay%d_rss=%s relay%d_hwm=%s ", i, mib(s.rssKiB), i, mib(s.hwmKiB))
	}
	s, _ := readProc(0)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Fprintf(&b, "fleet_rss=%s fleet_heap=%s goroutines=%d", mib(s.rssKiB), mib(int64(ms.HeapInuse>>10)), runtime.NumGoroutine())
	return b.String()
}

func mib(kib int64) string { return fmt.Sprintf("%.0fMiB", float64(kib)/1024) }

func numCPU() int { return runtime.NumCPU() }
