package store

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
)

// maxParts is S3's limit of parts per multipart upload.
const maxParts = 10000

// crc32cHeader carries a part's CRC32C (a trailer on unsigned payloads).
const crc32cHeader = "X-Amz-Checksum-Crc32c"

// core is the low-level API of the client (multipart uploads).
func (s *S3) core() minio.Core { return minio.Core{Client: s.client} }

// BeginParts implements [PartStore] with CreateMultipartUpload.
func (s *S3) BeginParts(ctx context.Context, key string) (string, error) {
	if err := CheckKey(key); err != nil {
		return "", fmt.Errorf("store: begin parts: %w", err)
	}
	opts := minio.PutObjectOptions{ContentType: "application/octet-stream"}
	if !s.signPayload {
		// Parts go with a CRC32C trailer the server checks, as Put does.
		opts.UserMetadata = map[string]string{"X-Amz-Checksum-Algorithm": minio.ChecksumCRC32C.String()}
	}
	id, err := s.core().NewMultipartUpload(ctx, s.bucket, key, opts)
	if err != nil {
		return "", fmt.Errorf("store: begin parts %s: %w", key, s.mapErr(ctx, err))
	}
	return id, nil
}

// PutPart implements [PartStore] with UploadPart. r is read once (the
// request is not retried: r is a stream).
func (s *S3) PutPart(ctx context.Context, key, uploadID string, p Part, r io.Reader) (Part, error) {
	if err := CheckKey(key); err != nil {
		return p, fmt.Errorf("store: put part: %w", err)
	}
	if p.N < 1 || p.N > maxParts || p.Size < 0 {
		return p, fmt.Errorf("store: put part %d of %s (%d bytes): out of range", p.N, key, p.Size)
	}
	er := &readErr{r: newExactReader(ctx, r, p.Size)}
	opts := minio.PutObjectPartOptions{DisableContentSha256: !s.signPayload}
	var body io.Reader = er // not a Seeker: never re-read
	var crc *crcReader
	if !s.signPayload {
		crc = &crcReader{r: body, trailer: http.Header{}}
		// The value's length counts in the request's length: set one now.
		crc.trailer.Set(crc32cHeader, crc.sum())
		opts.Trailer = crc.trailer
		body = crc
	}
	op, err := s.core().PutObjectPart(ctx, s.bucket, key, uploadID, p.N, body, p.Size, opts)
	if err != nil {
		if rerr := er.err(); rerr != nil {
			return p, fmt.Errorf("store: put part %d of %s: %w", p.N, key, rerr)
		}
		return p, fmt.Errorf("store: put part %d of %s: %w", p.N, key, s.mapErr(ctx, err))
	}
	p.ETag = op.ETag
	if crc != nil {
		p.Checksum = crc.sum()
	}
	return p, nil
}

// CompleteParts implements [PartStore] with CompleteMultipartUpload.
func (s *S3) CompleteParts(ctx context.Context, key, uploadID string, parts []Part) error {
	if err := CheckKey(key); err != nil {
		return fmt.Errorf("store: complete parts: %w", err)
	}
	cp := make([]minio.CompletePart, len(parts))
	for i, p := range parts {
		cp[i] = minio.CompletePart{PartNumber: p.N, ETag: p.ETag, ChecksumCRC32C: p.Checksum}
	}
	opts := minio.PutObjectOptions{ContentType: "application/octet-stream"}
	if _, err := s.core().CompleteMultipartUpload(ctx, s.bucket, key, uploadID, cp, opts); err != nil {
		return fmt.Errorf("store: complete parts %s: %w", key, s.mapErr(ctx, err))
	}
	return nil
}

// CheckParts implements [PartStore] with ListParts (one part asked).
func (s *S3) CheckParts(ctx context.Context, key, uploadID string) error {
	if err := CheckKey(key); err != nil {
		return fmt.Errorf("store: check parts: %w", err)
	}
	if _, err := s.core().ListObjectParts(ctx, s.bucket, key, uploadID, 0, 1); err != nil {
		return fmt.Errorf("store: check parts %s: %w", key, s.mapErr(ctx, err))
	}
	return nil
}

// AbortParts implements [PartStore] with AbortMultipartUpload.
func (s *S3) AbortParts(ctx context.Context, key, uploadID string) error {
	if err := CheckKey(key); err != nil {
		return fmt.Errorf("store: abort parts: %w", err)
	}
	err := s.core().AbortMultipartUpload(ctx, s.bucket, key, uploadID)
	if err != nil && !isS3Code(err, "NoSuchUpload") {
		return fmt.Errorf("store: abort parts %s: %w", key, s.mapErr(ctx, err))
	}
	return nil
}

// PartSize implements [PartStore]: the configured part size, or larger
// when size would need more than S3's 10,000 parts (in MiB steps).
func (s *S3) PartSize(size int64) int64 {
	ps := int64(s.partSize)
	if need := (size + maxParts - 1) / maxParts; need > ps {
		ps = (need + 1<<20 - 1) &^ (1<<20 - 1)
	}
	return ps
}

// readErr notes the first error of r but io.EOF: a failed part names
// what failed reading its body rather than the request's error about it.
type readErr struct {
	r     io.Reader
	mu    sync.Mutex
	first error // +checklocks:mu
}

// Read implements io.Reader.
func (e *readErr) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		e.mu.Lock()
		if e.first == nil {
			e.first = err
		}
		e.mu.Unlock()
	}
	return n, err
}

// err returns the first error read, if any.
func (e *readErr) err() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.first
}

// crcReader computes the CRC32C of what is read through it and sets it in
// trailer at io.EOF, for the HTTP client to send after the body.
type crcReader struct {
	r       io.Reader
	trailer http.Header
	crc     uint32
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Read implements io.Reader.
func (c *crcReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.crc = crc32.Update(c.crc, castagnoli, p[:n])
	if errors.Is(err, io.EOF) {
		c.trailer.Set(crc32cHeader, c.sum())
	}
	return n, err
}

// sum is the CRC32C so far, base64 of its big-endian bytes as S3 wants it.
func (c *crcReader) sum() string {
	b := []byte{byte(c.crc >> 24), byte(c.crc >> 16), byte(c.crc >> 8), byte(c.crc)}
	return base64.StdEncoding.EncodeToString(b)
}

var _ PartStore = (*S3)(nil)

// staleListPage is how many uploads one ListMultipartUploads asks for.
const staleListPage = 1000

// AbortStaleParts implements [StaleParts] with ListMultipartUploads; an
// upload begun before before is aborted only when ListParts shows no part
// stored since either.
func (s *S3) AbortStaleParts(ctx context.Context, before time.Time, keep func(uploadID string) bool) (int, error) {
	aborted := 0
	var keyMarker, idMarker string
	for {
		res, err := s.core().ListMultipartUploads(ctx, s.bucket, "", keyMarker, idMarker, "", staleListPage)
		if err != nil {
			return aborted, fmt.Errorf("store: list multipart uploads: %w", s.mapErr(ctx, err))
		}
		for _, up := range res.Uploads {
			if !up.Initiated.Before(before) || keep(up.UploadID) {
				continue
			}
			last, err := s.lastPartAt(ctx, up.Key, up.UploadID)
			if errors.Is(err, ErrNotExist) {
				continue // completed or aborted meanwhile
			}
			if err != nil {
				return aborted, err
			}
			if !last.Before(before) {
				continue
			}
			if err := s.AbortParts(ctx, up.Key, up.UploadID); err != nil {
				return aborted, err
			}
			aborted++
		}
		if !res.IsTruncated || (res.NextKeyMarker == keyMarker && res.NextUploadIDMarker == idMarker) {
			return aborted, nil
		}
		keyMarker, idMarker = res.NextKeyMarker, res.NextUploadIDMarker
	}
}

// lastPartAt returns when the newest part of an upload was stored (the
// zero time when it has none).
func (s *S3) lastPartAt(ctx context.Context, key, uploadID string) (time.Time, error) {
	var last time.Time
	marker := 0
	for {
		res, err := s.core().ListObjectParts(ctx, s.bucket, key, uploadID, marker, staleListPage)
		if err != nil {
			return last, fmt.Errorf("store: list parts: %w", s.mapErr(ctx, err))
		}
		for _, p := range res.ObjectParts {
			if p.LastModified.After(last) {
				last = p.LastModified
			}
		}
		if !res.IsTruncated || res.NextPartNumberMarker <= marker {
			return last, nil
		}
		marker = res.NextPartNumberMarker
	}
}

var _ StaleParts = (*S3)(nil)
