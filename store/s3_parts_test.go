package store

import "testing"

// TestS3PartSize: the configured part size, grown in whole MiB for
// objects that would need more than S3's 10,000 parts.
func TestS3PartSize(t *testing.T) {
	s := &S3{partSize: DefaultPartSize}
	for _, tc := range []struct{ size, want int64 }{
		{1, DefaultPartSize},
		{10000 * DefaultPartSize, DefaultPartSize},
		{10000*DefaultPartSize + 1, DefaultPartSize + 1<<20},
		{200 << 30, 21 << 20},
	} {
		got := s.PartSize(tc.size)
		if got != tc.want || got*maxParts < tc.size {
			t.Errorf("PartSize(%d) = %d, want %d", tc.size, got, tc.want)
		}
	}
}
