package agent

import (
	"math/rand/v2"
	"time"
)

// backoff returns the delay before attempt number attempts+1 of an item
// that has failed attempts times (attempts >= 1): min·2^(attempts-1),
// capped at max, of which the upper half is random ("equal jitter"), so
// agents that failed together do not retry together.
func backoff(min, max time.Duration, attempts int) time.Duration {
	if min <= 0 {
		return 0
	}
	d := min
	for i := 1; i < attempts && d < max; i++ {
		d *= 2
	}
	d = minDur(d, max)
	half := d / 2
	return half + rand.N(d-half+1)
}

func minDur(a, b time.Duration) time.Duration {
	if b > 0 && b < a {
		return b
	}
	return a
}
