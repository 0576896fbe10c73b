//go:build unix

package transport

import (
	"bytes"
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"
)

// BenchmarkUploadWireGuard compares one-file upload throughput on loopback:
// plain QUIC, and QUIC (and TCP) inside the WireGuard tunnel with
// wireguard-go netstack's behaviour (batch 1) and with ours (batch 128,
// UDP GSO/GRO), at the default MTU and at the MTU where quic-go reaches its
// largest packets.
func BenchmarkUploadWireGuard(b *testing.B) {
	const size = 8 << 20
	data, _ := testFile("bench", size)
	sum := sha256Of(data)
	run := func(b *testing.B, env *testEnv, c *Conn) {
		b.SetBytes(size)
		cpu0 := processCPU()
		b.ResetTimer()
		for i := 0; b.Loop(); i++ {
			offer := &Offer{ID: fmt.Sprintf("bench-%d", i), Size: size, SHA256: sum}
			if _, err := c.Upload(context.Background(), offer, bytes.NewReader(data)); err != nil {
				b.Fatal(err)
			}
			<-env.handler.writes
		}
		// CPU per MB (both ends, this process) is steadier than MB/s on a
		// shared machine.
		b.ReportMetric(float64(processCPU()-cpu0)/1e6/(float64(b.N)*size/1e6), "cpu-ms/MB")
		if c.qc != nil {
			// Queueing in the path shows as RTT, drops as losses.
			st := c.qc.ConnectionStats()
			b.ReportMetric(float64(st.SmoothedRTT.Microseconds())/1e3, "srtt-ms")
			b.ReportMetric(float64(st.PacketsLost)/float64(b.N), "lost/op")
		}
	}
	b.Run("plain/quic", func(b *testing.B) {
		env := newEnv(b, envOptions{})
		run(b, env, env.dial(b, ModeQUIC))
	})
	for _, mode := range modes {
		for _, opt := range []wgOptions{
			{mtu: 1420, batchSize: 1},
			{mtu: 1420, batchSize: 8},
			{mtu: 1420, batchSize: 32},
			{mtu: 1420, batchSize: 128},
			{mtu: 1480, batchSize: 128},
		} {
			b.Run(fmt.Sprintf("wg/%s/mtu%d/batch%d", mode, opt.mtu, opt.batchSize), func(b *testing.B) {
				env := newWGEnv(b, opt)
				run(b, env.testEnv, env.wgDial(b, mode, opt))
			})
		}
	}
}

// processCPU returns the user and system CPU time of the process so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
