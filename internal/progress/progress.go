// Package progress prints the progress of long commands: a redrawn bar on a
// terminal, plain lines (at most one every few seconds) otherwise.
package progress

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// Printer renders progress to a writer.
type Printer struct {
	w        io.Writer
	terminal bool
	every    time.Duration
	last     time.Time
	drawn    bool
}

// New returns a Printer. terminal selects the redrawn bar.
func New(w io.Writer, terminal bool) *Printer {
	return &Printer{w: w, terminal: terminal, every: 5 * time.Second}
}

// Update shows done of total units, with bytes processed so far, the
// elapsed time and extra (e.g. "3 quarantined").
func (p *Printer) Update(done, total int, bytes int64, elapsed time.Duration, extra string) {
	now := time.Now()
	final := done == total
	if !p.terminal {
		if !final && now.Sub(p.last) < p.every {
			return
		}
		p.last = now
		fmt.Fprintf(p.w, "%d/%d files, %s%s\n", done, total, rate(bytes, done, elapsed), suffix(extra))
		return
	}
	if !final && now.Sub(p.last) < 100*time.Millisecond {
		return
	}
	p.last = now
	const width = 30
	filled := width
	if total > 0 {
		filled = done * width / total
	}
	bar := strings.Repeat("#", filled) + strings.Repeat(".", width-filled)
	fmt.Fprintf(p.w, "\r[%s] %d/%d files, %s%s\x1b[K", bar, done, total, rate(bytes, done, elapsed), suffix(extra))
	p.drawn = true
	if final {
		fmt.Fprintln(p.w)
		p.drawn = false
	}
}

func suffix(extra string) string {
	if extra == "" {
		return ""
	}
	return ", " + extra
}

func rate(bytes int64, files int, elapsed time.Duration) string {
	s := elapsed.Seconds()
	if s <= 0 {
		return fmt.Sprintf("%.1f MB", float64(bytes)/1e6)
	}
	return fmt.Sprintf("%.1f MB, %.1f MB/s, %.0f files/s", float64(bytes)/1e6, float64(bytes)/1e6/s, float64(files)/s)
}
