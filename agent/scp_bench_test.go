package agent

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"dicomgate/internal/dicomtest"
)

// BenchmarkSCPIntake measures C-STORE intake: dcmtk storescu sends the
// same CT slices (512×512, explicit VR little endian; AGENT_BENCH_SLICES,
// default 200) over one association to the agent's SCP (Part 10 file,
// fsync, rename, fsync of the folder, queue insert with synchronous=FULL,
// then the response) and to dcmtk storescp (writes files, no fsync), in
// the same run with the same maximum PDU. Run it with
// bench/cstore_agent.sh.
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
	src := b.TempDir()
	g := dicomtest.New(1)
	var total int64
	for i := range n {
		data, err := g.CTSlice(dicomtest.SliceOptions{})
		if err != nil {
			b.Fatal(err)
		}
		total += int64(len(data))
		if err := os.WriteFile(filepath.Join(src, fmt.Sprintf("s%05d.dcm", i)), data, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	const pdu = "65536"
	send := func(b *testing.B, addr, aec string) {
		if out, err := storescu(b, addr, "BENCH", aec, src, "-xe", "--max-send-pdu", pdu); err != nil {
			b.Fatalf("storescu: %v\n%s", err, out)
		}
	}
	b.Run("agent", func(b *testing.B) {
		b.SetBytes(total)
		dir := b.TempDir()
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
		b.ResetTimer()
		for range b.N {
			send(b, ln.Addr().String(), DefaultAETitle)
		}
		b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "files/s")
	})
	b.Run("storescp", func(b *testing.B) {
		b.SetBytes(total)
		dir := b.TempDir()
		addr := startStorescp(b, dir, "+xe", "--max-pdu", pdu)
		b.ResetTimer()
		for range b.N {
			send(b, addr, "STORESCP")
		}
		b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "files/s")
	})
}

// startStorescp runs dcmtk storescp writing into dir on a free port until
// the benchmark ends.
func startStorescp(b *testing.B, dir string, flags ...string) string {
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
			return addr
		}
		if time.Now().After(deadline) {
			b.Fatal("storescp not listening")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
