package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// fsPartSize is the part size of the filesystem store's uploads. Parts
// are written in place, so it only bounds what a caller holds per part.
const fsPartSize = DefaultPartSize

// uploadPrefix starts the name of an upload's file; the upload ID is the
// random number after it.
const uploadPrefix = ".parts-"

// uploadPath is the file that collects the parts of upload id of key: a
// temporary file (List skips it) in the key's directory, renamed over the
// key by CompleteParts.
func (f *FS) uploadPath(key, id string) (string, error) {
	if _, err := strconv.ParseUint(id, 10, 64); err != nil {
		return "", fmt.Errorf("store: upload id %q: %w", id, ErrNotExist)
	}
	return filepath.Join(filepath.Dir(f.path(key)), uploadPrefix+id+tempSuffix), nil
}

// BeginParts implements [PartStore]: it creates the upload's file.
func (f *FS) BeginParts(ctx context.Context, key string) (string, error) {
	if err := CheckKey(key); err != nil {
		return "", fmt.Errorf("store: begin parts: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("store: begin parts %s: %w", key, err)
	}
	tmp, err := f.createTemp(filepath.Dir(f.path(key)), uploadPrefix)
	if err != nil {
		return "", fmt.Errorf("store: begin parts %s: %w", key, err)
	}
	id := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(tmp.Name()), uploadPrefix), tempSuffix)
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return "", fmt.Errorf("store: begin parts %s: %w", key, err)
	}
	return id, nil
}

// PutPart implements [PartStore]: it writes the part at its place in the
// upload's file and fsyncs it.
func (f *FS) PutPart(ctx context.Context, key, uploadID string, p Part, r io.Reader) (Part, error) {
	if err := CheckKey(key); err != nil {
		return p, fmt.Errorf("store: put part: %w", err)
	}
	if p.N < 1 || p.Size < 0 || p.Size > fsPartSize {
		return p, fmt.Errorf("store: put part %d of %s (%d bytes): out of range", p.N, key, p.Size)
	}
	path, err := f.uploadPath(key, uploadID)
	if err != nil {
		return p, err
	}
	file, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return p, fmt.Errorf("store: put part %d of %s: %w", p.N, key, mapFSErr(err))
	}
	defer file.Close()
	w := io.NewOffsetWriter(file, int64(p.N-1)*fsPartSize)
	if _, err := io.Copy(w, newExactReader(ctx, r, p.Size)); err != nil {
		return p, fmt.Errorf("store: put part %d of %s: %w", p.N, key, err)
	}
	if err := file.Sync(); err != nil {
		return p, fmt.Errorf("store: put part %d of %s: %w", p.N, key, err)
	}
	p.ETag = strconv.Itoa(p.N)
	return p, nil
}

// CompleteParts implements [PartStore]: the upload's file, cut to the
// parts' length and fsynced, is renamed over the key.
func (f *FS) CompleteParts(ctx context.Context, key, uploadID string, parts []Part) error {
	if err := CheckKey(key); err != nil {
		return fmt.Errorf("store: complete parts: %w", err)
	}
	path, err := f.uploadPath(key, uploadID)
	if err != nil {
		return err
	}
	var size int64
	for i, p := range parts {
		if p.N != i+1 || (i < len(parts)-1 && p.Size != fsPartSize) {
			return fmt.Errorf("store: complete parts %s: part %d of %d bytes out of order", key, p.N, p.Size)
		}
		size += p.Size
	}
	file, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("store: complete parts %s: %w", key, mapFSErr(err))
	}
	err = file.Truncate(size)
	if err == nil {
		err = file.Sync()
	}
	if cerr := file.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = ctx.Err()
	}
	if err == nil {
		err = os.Rename(path, f.path(key))
	}
	if err == nil {
		err = syncDir(filepath.Dir(path))
	}
	if err != nil {
		return fmt.Errorf("store: complete parts %s: %w", key, err)
	}
	return nil
}

// CheckParts implements [PartStore]: the upload's file exists.
func (f *FS) CheckParts(ctx context.Context, key, uploadID string) error {
	if err := CheckKey(key); err != nil {
		return fmt.Errorf("store: check parts: %w", err)
	}
	path, err := f.uploadPath(key, uploadID)
	if err != nil {
		return err
	}
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("store: check parts %s: %w", key, mapFSErr(err))
	}
	return nil
}

// AbortParts implements [PartStore]: it removes the upload's file.
func (f *FS) AbortParts(ctx context.Context, key, uploadID string) error {
	if err := CheckKey(key); err != nil {
		return fmt.Errorf("store: abort parts: %w", err)
	}
	path, err := f.uploadPath(key, uploadID)
	if err != nil {
		return nil // no such upload
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("store: abort parts %s: %w", key, err)
	}
	return nil
}

// PartSize implements [PartStore]: parts are always 16 MiB.
func (f *FS) PartSize(int64) int64 { return fsPartSize }

var _ PartStore = (*FS)(nil)
