package agent

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"dicomgate/internal/dicomtest"
)

// BenchmarkSCPIntake measures C-STORE intake: dcmtk storescu sends the
// same CT slices (512×512, explicit VR little endian; AGENT_BENCH_SLICES,
// default 200) to the agent's SCP (durable in the intake journal and
// queued before the response) and to dcmtk storescp (writes files, no
// fsync), in the same run with the same maximum PDU. Each association
// count in AGENT_BENCH_ASSOCS (default "1,4") runs that many storescu
// processes at once, each with its share of the slices; storescp then
// runs with --fork, one process per association, as it otherwise serves
// one association at a time. Besides files/s and MB/s it reports the
// receiver's CPU time per file (the agent's process; storescp and its
// children). After each agent run every instance must be in the queue.
// Run it with bench/cstore_agent.sh.
func BenchmarkSCPIntake(b *testing.B) {
	for _, tool := range []string{"storescu", "storescp"} {
		if _, err := exec.LookPath(tool); err != nil {
			b.Skipf("%s not installed (apt-get install -y dcmtk)", tool)
		}
	}
	n := 200
	if v, err := strconv.Atoi(os.Getenv("AGENT_BENCH_SLICES")); err == nil && v > 0 {
		n = v
	}
	assocs := []int{1, 4}
	if v := os.Getenv("AGENT_BENCH_ASSOCS"); v != "" {
		assocs = nil
		for _, f := range strings.Split(v, ",") {
			k, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || k < 1 {
				b.Fatalf("AGENT_BENCH_ASSOCS: %q is not a list of counts", v)
			}
			assocs = append(assocs, k)
		}
	}
	// Every receiver writes into a new folder of one root, kept to the
	// end: deleting a run's files between runs slows the next run's file
	// creation (ext4 skips recently freed inodes), and folders of one
	// parent share their block group.
	root := b.TempDir()
	newDir := func(b *testing.B, prefix string) string {
		d, err := os.MkdirTemp(root, prefix)
		if err != nil {
			b.Fatal(err)
		}
		return d
	}
	src := b.TempDir()
	g := dicomtest.New(1)
	var total int64
	slices := make([][]byte, n)
	for i := range n {
		data, err := g.CTSlice(dicomtest.SliceOptions{})
		if err != nil {
			b.Fatal(err)
		}
		slices[i] = data
		total += int64(len(data))
	}
	const pdu = "65536"
	for _, k := range assocs {
		// Slice i goes to folder i mod k: one folder per association.
		dirs := make([]string, k)
		for a := range k {
			dirs[a] = filepath.Join(src, fmt.Sprintf("k%d-a%d", k, a))
			if err := os.MkdirAll(dirs[a], 0o700); err != nil {
				b.Fatal(err)
			}
		}
		for i, data := range slices {
			if err := os.WriteFile(filepath.Join(dirs[i%k], fmt.Sprintf("s%05d.dcm", i)), data, 0o644); err != nil {
				b.Fatal(err)
			}
		}
		send := func(b *testing.B, addr, aec string) {
			var wg sync.WaitGroup
			errs := make([]error, k)
			outs := make([]string, k)
			for a := range k {
				wg.Go(func() {
					outs[a], errs[a] = storescu(b, addr, "BENCH", aec, dirs[a], "-xe", "--max-send-pdu", pdu)
				})
			}
			wg.Wait()
			for a := range k {
				if errs[a] != nil {
					b.Fatalf("storescu: %v\n%s", errs[a], outs[a])
				}
			}
		}
		b.Run(fmt.Sprintf("assocs=%d/agent", k), func(b *testing.B) {
			b.SetBytes(total)
			dir := newDir(b, "agent-")
			q, err := OpenQueue(context.Background(), zerolog.Nop(), filepath.Join(dir, "queue.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer q.Close()
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			s := NewSCP(zerolog.Nop(), q, DICOMConfig{}, filepath.Join(dir, "received"))
			done := make(chan error, 1)
			go func() { done <- s.Serve(context.Background(), ln) }()
			defer func() { s.Close(); <-done }()
			// Serving starts after the journal is created.
			for s.Addr() == nil {
				time.Sleep(time.Millisecond)
			}
			cpu0 := selfCPU()
			b.ResetTimer()
			for range b.N {
				send(b, ln.Addr().String(), DefaultAETitle)
			}
			b.StopTimer()
			report(b, n, selfCPU()-cpu0)
			if c, err := q.Counts(context.Background()); err != nil || c[StateSeen] != n*b.N {
				b.Fatalf("queue holds %v (%v) after the run; want %d seen", c, err, n*b.N)
			}
		})
		b.Run(fmt.Sprintf("assocs=%d/storescp", k), func(b *testing.B) {
			b.SetBytes(total)
			flags := []string{"+xe", "--max-pdu", pdu}
			if k > 1 {
				flags = append(flags, "--fork")
			}
			addr, pid := startStorescp(b, newDir(b, "storescp-"), flags...)
			cpu0 := procCPU(b, pid)
			b.ResetTimer()
			for range b.N {
				send(b, addr, "STORESCP")
			}
			b.StopTimer()
			// Forked children are accounted to storescp once reaped.
			time.Sleep(100 * time.Millisecond)
			report(b, n, procCPU(b, pid)-cpu0)
		})
	}
}

// report adds files/s and the receiver's CPU time per file.
func report(b *testing.B, n int, cpu time.Duration) {
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "files/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(n*b.N), "cpu-µs/file")
}

// selfCPU returns the CPU time this process has used.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procCPU returns the CPU time of process pid and its reaped children,
// from /proc/pid/stat (utime, stime, cutime, cstime in clock ticks of
// 10 ms).
func procCPU(b *testing.B, pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the command name (which may hold spaces) start at
	// field 3, the state.
	f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	var ticks int64
	for _, i := range []int{11, 12, 13, 14} { // utime stime cutime cstime
		v, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil {
			b.Fatal(err)
		}
		ticks += v
	}
	return time.Duration(ticks) * 10 * time.Millisecond
}

// startStorescp runs dcmtk storescp writing into dir on a free port until
// the benchmark ends, and returns its address and process id.
func startStorescp(b *testing.B, dir string, flags ...string) (string, int) {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	args := append([]string{"-aet", "STORESCP", "-od", dir}, flags...)
	cmd := exec.Command("storescp", append(args, strconv.Itoa(port))...)
	cmd.Env = append(os.Environ(), "TCP_NODELAY=1")
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	for deadline := time.Now().Add(10 * time.Second); ; {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return addr, cmd.Process.Pid
		}
		if time.Now().After(deadline) {
			b.Fatal("storescp not listening")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
