package transport

import (
	"bytes"
	"context"
	"fmt"
	"testing"
)

// BenchmarkUpload measures one-file upload throughput on loopback, over
// each transport and over QUIC read one packet at a time (quic-nogro).
func BenchmarkUpload(b *testing.B) {
	const size = 8 << 20
	for _, mode := range append(modes, "quic-nogro") {
		b.Run(string(mode), func(b *testing.B) {
			env := newEnv(b, envOptions{disableUDPGRO: mode == "quic-nogro"})
			if mode == "quic-nogro" {
				mode = ModeQUIC
			}
			c := env.dial(b, mode)
			data, _ := testFile("bench", size)
			sum := sha256Of(data)
			b.SetBytes(size)
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				offer := &Offer{ID: fmt.Sprintf("bench-%d", i), Size: size, SHA256: sum}
				if _, err := c.Upload(context.Background(), offer, bytes.NewReader(data)); err != nil {
					b.Fatal(err)
				}
				<-env.handler.writes
			}
		})
	}
}
