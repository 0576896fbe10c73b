package transport

import (
	"testing"
	"time"
)

func TestBackoffNext(t *testing.T) {
	tests := []struct {
		b       Backoff
		attempt int
		lo, hi  time.Duration
	}{
		{Backoff{Min: time.Second, Max: time.Minute}, 0, 500 * time.Millisecond, time.Second},
		{Backoff{Min: time.Second, Max: time.Minute}, 3, 4 * time.Second, 8 * time.Second},
		{Backoff{Min: time.Second, Max: time.Minute}, 10, 30 * time.Second, time.Minute},
		{Backoff{Min: time.Second, Max: time.Minute}, 1000, 30 * time.Second, time.Minute},
		{Backoff{}, 0, 500 * time.Millisecond, time.Second},
		{Backoff{}, 100, 150 * time.Second, 5 * time.Minute},
		{Backoff{Min: time.Minute, Max: time.Second}, 2, 30 * time.Second, time.Minute},
	}
	for _, tc := range tests {
		seen := map[time.Duration]bool{}
		for range 200 {
			d := tc.b.Next(tc.attempt)
			if d < tc.lo || d > tc.hi {
				t.Fatalf("%+v.Next(%d) = %v, want within [%v, %v]", tc.b, tc.attempt, d, tc.lo, tc.hi)
			}
			seen[d] = true
		}
		if len(seen) < 2 {
			t.Errorf("%+v.Next(%d) shows no jitter", tc.b, tc.attempt)
		}
	}
}
