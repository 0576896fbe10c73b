package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3 is an [ObjectStore] on an S3-compatible bucket (AWS S3, MinIO, Ceph
// RGW, versitygw), through minio-go. Puts stream: the object is never held
// whole in memory, at most about one part (S3Config.PartSize).
type S3 struct {
	client      *minio.Client
	bucket      string
	partSize    uint64
	signPayload bool
}

// NewS3 connects to the bucket described by cfg, checks that it exists and
// creates it first if cfg.CreateBucket is set.
func NewS3(ctx context.Context, cfg S3Config) (*S3, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	opts := &minio.Options{
		Secure: cfg.UseTLS,
		Region: cfg.Region,
		// CRC32C trailers on unsigned payloads (see S3Config.SignPayload).
		TrailingHeaders: !cfg.SignPayload,
	}
	if cfg.AccessKey != "" {
		opts.Creds = credentials.NewStaticV4(cfg.AccessKey, string(cfg.SecretKey), "")
	}
	client, err := minio.New(cfg.Endpoint, opts)
	if err != nil {
		return nil, fmt.Errorf("store: s3: %w", err)
	}
	partSize := cfg.PartSize
	if partSize == 0 {
		partSize = DefaultPartSize
	}
	s := &S3{client: client, bucket: cfg.Bucket, partSize: partSize, signPayload: cfg.SignPayload}
	ok, err := client.BucketExists(ctx, cfg.Bucket)
	if err != nil {
		return nil, fmt.Errorf("store: s3: bucket %s: %w", cfg.Bucket, err)
	}
	if !ok {
		if !cfg.CreateBucket {
			return nil, fmt.Errorf("store: s3: bucket %s: %w", cfg.Bucket, ErrNotExist)
		}
		err := client.MakeBucket(ctx, cfg.Bucket, minio.MakeBucketOptions{Region: cfg.Region})
		if err != nil && !isS3Code(err, "BucketAlreadyOwnedByYou", "BucketAlreadyExists") {
			return nil, fmt.Errorf("store: s3: create bucket %s: %w", cfg.Bucket, err)
		}
	}
	return s, nil
}

// Put implements [ObjectStore]. S3 PUTs are atomic by nature; a failed or
// cancelled upload leaves no object (an aborted multipart upload is
// cleaned up by minio-go).
func (s *S3) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	if err := CheckKey(key); err != nil {
		return fmt.Errorf("store: put: %w", err)
	}
	if size < 0 {
		return fmt.Errorf("store: put %s: negative size: %w", key, ErrSizeMismatch)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store: put %s: %w", key, err)
	}
	_, err := s.client.PutObject(ctx, s.bucket, key, newExactReader(ctx, r, size), size, minio.PutObjectOptions{
		ContentType:          "application/octet-stream",
		PartSize:             s.partSize,
		DisableContentSha256: !s.signPayload,
	})
	if err != nil {
		return fmt.Errorf("store: put %s: %w", key, s.mapErr(ctx, err))
	}
	return nil
}

// Get implements [ObjectStore] with a ranged GET. It makes one request up
// front, so that a missing object or bad offset is reported here and not
// on the first Read.
func (s *S3) Get(ctx context.Context, key string, offset int64) (io.ReadCloser, error) {
	if err := CheckKey(key); err != nil {
		return nil, fmt.Errorf("store: get: %w", err)
	}
	if offset < 0 {
		return nil, fmt.Errorf("store: get %s: offset %d: %w", key, offset, ErrInvalidOffset)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("store: get %s: %w", key, err)
	}
	var opts minio.GetObjectOptions
	if offset > 0 {
		if err := opts.SetRange(offset, 0); err != nil {
			return nil, fmt.Errorf("store: get %s: %w", key, err)
		}
	}
	obj, err := s.client.GetObject(ctx, s.bucket, key, opts)
	if err == nil {
		_, err = obj.Stat()
	}
	if err == nil {
		return obj, nil
	}
	if obj != nil {
		obj.Close()
	}
	if offset > 0 && isRangeError(err) {
		// An offset at exactly the end is valid and yields nothing; S3
		// answers 416 for it, so look at the size.
		info, serr := s.Stat(ctx, key)
		if serr != nil {
			return nil, serr
		}
		if offset == info.Size {
			return io.NopCloser(eofReader{}), nil
		}
		return nil, fmt.Errorf("store: get %s: offset %d of %d: %w", key, offset, info.Size, ErrInvalidOffset)
	}
	return nil, fmt.Errorf("store: get %s: %w", key, s.mapErr(ctx, err))
}

// eofReader is an empty io.Reader.
type eofReader struct{}

// Read implements io.Reader.
func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

// Stat implements [ObjectStore].
func (s *S3) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	if err := CheckKey(key); err != nil {
		return ObjectInfo{}, fmt.Errorf("store: stat: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return ObjectInfo{}, fmt.Errorf("store: stat %s: %w", key, err)
	}
	oi, err := s.client.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{})
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("store: stat %s: %w", key, s.mapErr(ctx, err))
	}
	return ObjectInfo{Key: key, Size: oi.Size, ModTime: oi.LastModified}, nil
}

// List implements [ObjectStore] (recursive ListObjectsV2; keys come in
// lexical order, but callers must not rely on it).
func (s *S3) List(ctx context.Context, prefix string, fn func(ObjectInfo) error) error {
	if err := checkPrefix(prefix); err != nil {
		return fmt.Errorf("store: list: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store: list: %w", err)
	}
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch := s.client.ListObjects(lctx, s.bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true})
	defer func() {
		cancel()
		for range ch { // let the lister goroutine finish
		}
	}()
	for oi := range ch {
		if oi.Err != nil {
			return fmt.Errorf("store: list: %w", s.mapErr(ctx, oi.Err))
		}
		if err := fn(ObjectInfo{Key: oi.Key, Size: oi.Size, ModTime: oi.LastModified}); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store: list: %w", err)
	}
	return nil
}

// Delete implements [ObjectStore]. S3 deletes succeed on missing keys, so
// Delete stats first; a concurrent delete of the same key may therefore
// make both calls succeed.
func (s *S3) Delete(ctx context.Context, key string) error {
	if err := CheckKey(key); err != nil {
		return fmt.Errorf("store: delete: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store: delete %s: %w", key, err)
	}
	if _, err := s.client.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{}); err != nil {
		return fmt.Errorf("store: delete %s: %w", key, s.mapErr(ctx, err))
	}
	if err := s.client.RemoveObject(ctx, s.bucket, key, minio.RemoveObjectOptions{}); err != nil {
		return fmt.Errorf("store: delete %s: %w", key, s.mapErr(ctx, err))
	}
	return nil
}

// mapErr turns S3 "no such key" answers into ErrNotExist and, when ctx is
// done, makes sure the context's error is in the chain.
func (s *S3) mapErr(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("%w: %w", cerr, err)
	}
	if isS3Code(err, "NoSuchKey", "NotFound", "NoSuchUpload") {
		return fmt.Errorf("%w: %w", ErrNotExist, err)
	}
	var er minio.ErrorResponse
	if errors.As(err, &er) && er.StatusCode == http.StatusNotFound && er.Code != "NoSuchBucket" {
		return fmt.Errorf("%w: %w", ErrNotExist, err)
	}
	return err
}

// isRangeError reports whether err is S3's "416 Range Not Satisfiable".
func isRangeError(err error) bool {
	var er minio.ErrorResponse
	return errors.As(err, &er) && (er.Code == "InvalidRange" || er.StatusCode == http.StatusRequestedRangeNotSatisfiable)
}

// isS3Code reports whether err is an S3 error response with one of codes.
func isS3Code(err error, codes ...string) bool {
	var er minio.ErrorResponse
	if !errors.As(err, &er) {
		return false
	}
	for _, c := range codes {
		if er.Code == c {
			return true
		}
	}
	return false
}

var _ ObjectStore = (*S3)(nil)
