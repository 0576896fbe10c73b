package transport

import (
	"math/rand/v2"
	"time"
)

// Backoff computes exponential back-off delays with jitter. The zero value
// uses Min 1 s and Max 5 min.
type Backoff struct {
	// Min is the base delay of attempt 0. Default 1 s.
	Min time.Duration
	// Max caps the delay. Default 5 min.
	Max time.Duration
}

// Next returns the delay before retry number attempt (0-based): a random
// duration in [d/2, d] where d = min(Max, Min·2^attempt).
func (b Backoff) Next(attempt int) time.Duration {
	lo, hi := b.Min, b.Max
	if lo <= 0 {
		lo = time.Second
	}
	if hi <= 0 {
		hi = 5 * time.Minute
	}
	if hi < lo {
		hi = lo
	}
	d := lo
	for i := 0; i < attempt && d < hi; i++ {
		d *= 2
	}
	if d > hi || d <= 0 {
		d = hi
	}
	half := d / 2
	return half + rand.N(d-half+1)
}
