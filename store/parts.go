package store

import (
	"context"
	"io"
)

// PartStore is implemented by object stores that can assemble an object
// from parts sent one after another, possibly over several sessions and
// restarts (S3 multipart uploads): a large upload goes to the store while
// it arrives, and its object appears only when [PartStore.CompleteParts]
// publishes it, whole and atomically. Until then nothing is visible under
// the key, and [PartStore.AbortParts] discards the parts.
//
// Parts are numbered from 1 and sent in order; every part but the last
// holds exactly the part size the upload was started with. An upload ID
// and the [Part] values a store returns are all a caller needs to keep to
// go on after a restart.
type PartStore interface {
	ObjectStore

	// BeginParts starts assembling the object at key and returns the
	// upload's ID.
	BeginParts(ctx context.Context, key string) (uploadID string, err error)

	// PutPart stores part p.N of the upload: exactly p.Size bytes read
	// from r. It returns p completed with what CompleteParts needs. If r
	// fails or yields fewer bytes, PutPart fails and the part is not
	// stored. An upload that is gone (aborted, by the store's own
	// clean-up too) fails PutPart and CompleteParts with [ErrNotExist].
	PutPart(ctx context.Context, key, uploadID string, p Part, r io.Reader) (Part, error)

	// CompleteParts publishes the object at key from parts (in order),
	// replacing any object there.
	CompleteParts(ctx context.Context, key, uploadID string, parts []Part) error

	// CheckParts reports whether the upload still exists: nil, or an
	// error wrapping [ErrNotExist] when it is gone (aborted, completed),
	// or the error that kept the store from answering.
	CheckParts(ctx context.Context, key, uploadID string) error

	// AbortParts discards the upload and its parts. An upload that is
	// already gone is not an error.
	AbortParts(ctx context.Context, key, uploadID string) error

	// PartSize is the size of the parts, but the last, of an upload of
	// size bytes.
	PartSize(size int64) int64
}

// Part is one part of an object assembled by a [PartStore].
type Part struct {
	// N is the part's number, from 1.
	N int `json:"n"`
	// Size is its length in bytes.
	Size int64 `json:"size"`
	// ETag identifies the stored part (set by PutPart).
	ETag string `json:"etag,omitempty"`
	// Checksum is the part's checksum as the store recorded it, if any
	// (set by PutPart).
	Checksum string `json:"checksum,omitempty"`
}
