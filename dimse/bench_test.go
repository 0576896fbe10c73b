package dimse

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"dicomgate/internal/dicomtest"
)

// BenchmarkCStoreIntake measures C-STORE intake: dcmtk storescu sends the
// same CT slices (512×512, explicit VR little endian; DIMSE_BENCH_SLICES,
// default 200) over one association to our Server, whose handler writes
// Part 10 files, and to dcmtk storescp writing files, in the same run. Both
// announce the same maximum PDU length. Run it with bench/cstore.sh.
func BenchmarkCStoreIntake(b *testing.B) {
	needTool(b, "storescu", "storescp")
	n := 200
	if v, err := strconv.Atoi(os.Getenv("DIMSE_BENCH_SLICES")); err == nil && v > 0 {
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
	pdu := strconv.Itoa(DefaultMaxPDU)
	send := func(b *testing.B, addr, aec string) {
		if out, err := run(b, "storescu", storescuArgs(b, addr, "BENCH", aec, []string{"-xe", "--max-send-pdu", pdu}, src)...); err != nil {
			b.Fatalf("storescu: %v\n%s", err, out)
		}
	}
	b.Run("dicomgate", func(b *testing.B) {
		b.SetBytes(total)
		dir := b.TempDir()
		addr := startServer(b, &Server{Handler: &dirStore{dir: dir}})
		b.ResetTimer()
		for range b.N {
			send(b, addr, "GATE")
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
