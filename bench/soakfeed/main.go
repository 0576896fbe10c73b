// Command soakfeed feeds an agent's watched folder at a fixed rate for the
// soak (bench/soak.sh): every file is a new synthetic CT slice of a new
// patient, study, series and instance (internal/dicomtest, one generator
// per file, seeded from the start time and the file number), written under
// a temporary name the agent ignores (".f-N.dcm.tmp") and renamed into the
// folder, as a PACS export would do.
//
//	soakfeed --dir INBOX [--rate 10] [--size 65536] [--duration 30m] [--count FILE]
//
// --size is the pixel data in bytes (a square 16-bit slice; the header adds
// about 3 KiB). --count names a file rewritten (temp + rename) every second
// with the number of files dropped so far, for the sampler. At the end
// (duration over, SIGINT or SIGTERM) it prints
//
//	soakfeed: dropped=N secs=S files_per_s=R
//
// and exits 0; a failed write ends it with status 1 after printing the
// same line.
package main

import (
	"context"
	"flag"
	"fmt"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"dicomgate/internal/dicomtest"
)

// options are the command-line flags.
type options struct {
	dir      string
	rate     float64
	size     int
	duration time.Duration
	count    string
}

func main() {
	var o options
	flag.StringVar(&o.dir, "dir", "", "watched folder of the agent")
	flag.Float64Var(&o.rate, "rate", 10, "files per second")
	flag.IntVar(&o.size, "size", 64<<10, "pixel data bytes per file (square 16-bit slice)")
	flag.DurationVar(&o.duration, "duration", 30*time.Minute, "feed for this long")
	flag.StringVar(&o.count, "count", "", "file rewritten every second with the count dropped so far")
	flag.Parse()
	if o.dir == "" || o.rate <= 0 || o.size <= 0 {
		fmt.Fprintln(os.Stderr, "soakfeed: --dir, a positive --rate and --size are required")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, o.duration)
	defer cancel()
	start := time.Now()
	n, err := feed(ctx, o, start)
	secs := time.Since(start).Seconds()
	fmt.Printf("soakfeed: dropped=%d secs=%.1f files_per_s=%.2f\n", n, secs, float64(n)/secs)
	if err != nil {
		fmt.Fprintln(os.Stderr, "soakfeed:", err)
		os.Exit(1)
	}
}

// feed drops one file every 1/rate seconds until ctx ends and returns how
// many it dropped. A tick missed while a file was being written is
// skipped, not made up, so the rate is an upper bound.
func feed(ctx context.Context, o options, start time.Time) (int, error) {
	side := int(math.Round(math.Sqrt(float64(o.size) / 2)))
	side = max(side, 8)
	tick := time.NewTicker(time.Duration(float64(time.Second) / o.rate))
	defer tick.Stop()
	report := time.NewTicker(time.Second)
	defer report.Stop()
	base := uint64(start.UnixNano())
	n := 0
	for {
		select {
		case <-ctx.Done():
			return n, writeCount(o.count, n)
		case <-report.C:
			if err := writeCount(o.count, n); err != nil {
				return n, err
			}
		case <-tick.C:
			data, err := dicomtest.New(base + uint64(n)).CTSlice(dicomtest.SliceOptions{Rows: side, Cols: side})
			if err != nil {
				return n, err
			}
			name := "f-" + strconv.Itoa(n) + ".dcm"
			if err := writeRename(filepath.Join(o.dir, "."+name+".tmp"), filepath.Join(o.dir, name), data); err != nil {
				return n, err
			}
			n++
		}
	}
}

// writeRename writes data to tmp and renames it to path.
func writeRename(tmp, path string, data []byte) error {
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("rename: %w", err)
	}
	return nil
}

// writeCount replaces the count file (if any) with n.
func writeCount(path string, n int) error {
	if path == "" {
		return nil
	}
	return writeRename(path+".tmp", path, []byte(strconv.Itoa(n)+"\n"))
}
