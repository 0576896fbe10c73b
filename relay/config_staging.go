package relay

import (
	"fmt"
	"time"
)

// Defaults of [StagingConfig] fields. The budget stays well under the
// relay's 96 MiB soft memory limit (cmd/dicomgate/gc.go) with its few tens
// of MiB of live heap: a budget near it would keep the collector busy.
const (
	DefaultStagingMemoryBudget    = 32 << 20
	DefaultStagingMemoryFileLimit = 8 << 20
	DefaultStagingKeepPartial     = 7 * 24 * time.Hour
	DefaultStagingStreamMin       = 64 << 20
)

// StagingConfig sets where uploads are held between their first byte and
// their commit. A file of at most MemoryFileLimit bytes whose upload
// starts at offset zero is received in memory while the relay-wide
// MemoryBudget allows it, and committed from there: no staging file is
// created, written, read back or removed. When its stream is cut, what
// arrived is written to the staging file (fsynced) for the agent to resume
// from, as for uploads staged in files. Larger files, resumed uploads and
// uploads meeting an exhausted budget are staged in files; none waits for
// memory.
type StagingConfig struct {
	// MemoryBudget bounds the bytes of all uploads held in memory at
	// once, in bytes. -1 stages every upload in a file. Default 32 MiB.
	MemoryBudget int64 `yaml:"memory_budget"`

	// MemoryFileLimit is the size of the largest file received in
	// memory, in bytes. Default 8 MiB.
	MemoryFileLimit int64 `yaml:"memory_file_limit"`

	// KeepPartial is how long a partial staging file (an upload cut off
	// and not resumed) is kept for its agent to resume from, counted from
	// its last write. Older ones are removed at start and then hourly:
	// their agent went away for good (its queue discarded or re-created),
	// or sends the file again from the start. A negative value keeps them
	// for ever. Default 168h (7 days).
	KeepPartial time.Duration `yaml:"keep_partial"`

	// StreamMin is the size of the smallest file whose upload goes to
	// the object store as it arrives, in parts (an S3 multipart upload,
	// a temporary file of the filesystem store), instead of through a
	// staging file: no staging file of its size is written, and the store
	// writes while the file arrives rather than after. One part
	// (store.s3.part_size, 16 MiB by default; 16 MiB on the filesystem)
	// per such upload is held in memory, within MemoryBudget; when the
	// budget has no room the file is staged. The object is published only after
	// the whole file verified; a cut upload resumes from the last part
	// stored plus the bytes after it (kept in its staging file). -1 stages
	// every file. Default 64 MiB.
	StreamMin int64 `yaml:"stream_min"`
}

// setDefaults fills the zero fields.
func (c *StagingConfig) setDefaults() {
	if c.MemoryBudget == 0 {
		c.MemoryBudget = DefaultStagingMemoryBudget
	}
	if c.MemoryFileLimit == 0 {
		c.MemoryFileLimit = DefaultStagingMemoryFileLimit
	}
	if c.StreamMin == 0 {
		c.StreamMin = DefaultStagingStreamMin
	}
	if c.KeepPartial == 0 {
		c.KeepPartial = DefaultStagingKeepPartial
	}
}

// validate reports the problems of c.
func (c *StagingConfig) validate() []error {
	var errs []error
	if c.MemoryBudget < -1 {
		errs = append(errs, fmt.Errorf("staging.memory_budget: %d is neither a size in bytes nor -1 (off)", c.MemoryBudget))
	}
	if c.StreamMin < -1 {
		errs = append(errs, fmt.Errorf("staging.stream_min: %d is neither a size in bytes nor -1 (off)", c.StreamMin))
	}
	if c.MemoryFileLimit < 0 {
		errs = append(errs, fmt.Errorf("staging.memory_file_limit: must be positive"))
	}
	return errs
}
