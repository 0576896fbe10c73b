package store

import (
	"context"
	"time"
)

// StaleParts is implemented by part stores that can find the uploads left
// unfinished by anyone, including uploads their starter no longer knows
// of: a relay killed between starting an upload and recording it, or
// whose staging folder was lost (a container recreated) while the bucket
// kept the parts, which the store bills and keeps until aborted.
type StaleParts interface {
	// AbortStaleParts aborts every unfinished upload with no part stored
	// since before (nor begun since), except those whose ID keep claims,
	// and returns how many it aborted.
	AbortStaleParts(ctx context.Context, before time.Time, keep func(uploadID string) bool) (int, error)
}
