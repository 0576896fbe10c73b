package store

import (
	"context"
	"io"
	"time"
)

// ObjectStore stores opaque objects (sealed files, manifests) under keys.
// Implementations are safe for concurrent use. Every method checks its key
// with [CheckKey] first and fails with [ErrInvalidKey] before doing any I/O.
// A cancelled or expired ctx makes a call fail with an error wrapping the
// context's error.
type ObjectStore interface {
	// Put stores exactly size bytes read from r under key, replacing any
	// existing object. It is atomic: readers see either the old object or
	// the complete new one, never a partial one; if Put fails, the previous
	// object (or its absence) is unchanged. If r yields more or fewer than
	// size bytes, Put fails with [ErrSizeMismatch]. size must be >= 0.
	Put(ctx context.Context, key string, r io.Reader, size int64) error

	// Get opens the object at key for reading, starting offset bytes in
	// (for resumable downloads). offset == size yields an empty reader; a
	// negative offset or one beyond the end fails with [ErrInvalidOffset].
	// A missing object fails with [ErrNotExist]. The caller must Close the
	// reader.
	Get(ctx context.Context, key string, offset int64) (io.ReadCloser, error)

	// Stat describes the object at key, or fails with [ErrNotExist].
	Stat(ctx context.Context, key string) (ObjectInfo, error)

	// List calls fn for every object whose key starts with prefix (a plain
	// string prefix, not a directory: "a/b" matches "a/b/c" and "a/bc").
	// The order is unspecified. If fn returns an error, List stops and
	// returns it unwrapped. An empty prefix lists everything.
	List(ctx context.Context, prefix string, fn func(ObjectInfo) error) error

	// Delete removes the object at key, or fails with [ErrNotExist].
	Delete(ctx context.Context, key string) error
}

// ObjectInfo describes a stored object.
type ObjectInfo struct {
	// Key is the object's key.
	Key string `json:"key"`
	// Size is the object's length in bytes.
	Size int64 `json:"size"`
	// ModTime is when the object was last written, as reported by the back
	// end (filesystem mtime or S3 Last-Modified, second precision there).
	ModTime time.Time `json:"mod_time"`
}
