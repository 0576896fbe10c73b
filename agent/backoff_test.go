package agent

import (
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	const lo, hi = 100 * time.Millisecond, 2 * time.Second
	tests := []struct {
		attempts int
		ceil     time.Duration
	}{
		{1, 100 * time.Millisecond},
		{2, 200 * time.Millisecond},
		{3, 400 * time.Millisecond},
		{5, 1600 * time.Millisecond},
		{6, 2 * time.Second},
		{60, 2 * time.Second},
	}
	for _, tt := range tests {
		for range 50 {
			d := backoff(lo, hi, tt.attempts)
			if d < tt.ceil/2 || d > tt.ceil {
				t.Fatalf("backoff(attempts=%d) = %v, want in [%v, %v]", tt.attempts, d, tt.ceil/2, tt.ceil)
			}
		}
	}
}
