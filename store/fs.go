package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// tempSuffix ends the names of in-flight temporary files. '~' is not a key
// character, so no key can collide with a temporary file and List skips them.
const tempSuffix = "~tmp"

// FS is an [ObjectStore] on a local directory. A key maps to the file of
// the same relative path. Files are created 0600 and directories 0700.
// Because keys are paths, FS cannot hold both "a" and "a/b" at once (S3
// can); Put of the second fails. dicomgate's key layout never does this.
type FS struct {
	root string
}

// NewFS returns an FS rooted at dir, creating dir (0700) if needed.
func NewFS(dir string) (*FS, error) {
	if dir == "" {
		return nil, errors.New("store: fs: empty directory")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("store: fs: %w", err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("store: fs: %w", err)
	}
	return &FS{root: abs}, nil
}

// path returns the file path for a checked key.
func (f *FS) path(key string) string {
	return filepath.Join(f.root, filepath.FromSlash(key))
}

// Put implements [ObjectStore]: it writes a temporary file in the target
// directory, fsyncs it, renames it over the key and fsyncs the directory.
func (f *FS) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	if err := CheckKey(key); err != nil {
		return fmt.Errorf("store: put: %w", err)
	}
	if size < 0 {
		return fmt.Errorf("store: put %s: negative size: %w", key, ErrSizeMismatch)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store: put %s: %w", key, err)
	}
	dst := f.path(key)
	tmp, err := f.createTemp(filepath.Dir(dst), ".put-")
	if err != nil {
		return fmt.Errorf("store: put %s: %w", key, err)
	}
	committed := false
	defer func() {
		if !committed {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := io.Copy(tmp, newExactReader(ctx, r, size)); err != nil {
		return fmt.Errorf("store: put %s: %w", key, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("store: put %s: %w", key, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("store: put %s: %w", key, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store: put %s: %w", key, err)
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return fmt.Errorf("store: put %s: %w", key, err)
	}
	committed = true
	if err := syncDir(filepath.Dir(dst)); err != nil {
		return fmt.Errorf("store: put %s: %w", key, err)
	}
	return nil
}

// createTemp creates the parent directories and a temporary file in dir,
// named prefix, a random number and tempSuffix. It retries because a
// concurrent Delete may prune a just-created empty directory.
func (f *FS) createTemp(dir, prefix string) (*os.File, error) {
	var err error
	for range 5 {
		if err = os.MkdirAll(dir, 0o700); err != nil {
			continue
		}
		var tmp *os.File
		// os.CreateTemp uses mode 0600.
		if tmp, err = os.CreateTemp(dir, prefix+"*"+tempSuffix); err == nil {
			return tmp, nil
		}
	}
	return nil, err
}

// syncDir fsyncs a directory so that a rename in it is durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Get implements [ObjectStore].
func (f *FS) Get(ctx context.Context, key string, offset int64) (io.ReadCloser, error) {
	if err := CheckKey(key); err != nil {
		return nil, fmt.Errorf("store: get: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("store: get %s: %w", key, err)
	}
	file, err := os.Open(f.path(key))
	if err != nil {
		return nil, fmt.Errorf("store: get %s: %w", key, mapFSErr(err))
	}
	fi, err := file.Stat()
	if err != nil {
		file.Close()
		return nil, fmt.Errorf("store: get %s: %w", key, err)
	}
	if fi.IsDir() {
		file.Close()
		return nil, fmt.Errorf("store: get %s: %w", key, ErrNotExist)
	}
	if offset < 0 || offset > fi.Size() {
		file.Close()
		return nil, fmt.Errorf("store: get %s: offset %d of %d: %w", key, offset, fi.Size(), ErrInvalidOffset)
	}
	if _, err := file.Seek(offset, io.SeekStart); err != nil {
		file.Close()
		return nil, fmt.Errorf("store: get %s: %w", key, err)
	}
	return file, nil
}

// Stat implements [ObjectStore].
func (f *FS) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	if err := CheckKey(key); err != nil {
		return ObjectInfo{}, fmt.Errorf("store: stat: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return ObjectInfo{}, fmt.Errorf("store: stat %s: %w", key, err)
	}
	fi, err := os.Stat(f.path(key))
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("store: stat %s: %w", key, mapFSErr(err))
	}
	if !fi.Mode().IsRegular() {
		return ObjectInfo{}, fmt.Errorf("store: stat %s: %w", key, ErrNotExist)
	}
	return ObjectInfo{Key: key, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

// List implements [ObjectStore]. It walks only the directory that holds
// every possible match.
func (f *FS) List(ctx context.Context, prefix string, fn func(ObjectInfo) error) error {
	if err := checkPrefix(prefix); err != nil {
		return fmt.Errorf("store: list: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store: list: %w", err)
	}
	start := f.root
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		start = f.path(prefix[:i])
	}
	errStop := errors.New("stop")
	var fnErr error
	err := filepath.WalkDir(start, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // vanished under a concurrent Delete, or no such prefix
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.IsDir() || !d.Type().IsRegular() || strings.HasSuffix(d.Name(), tempSuffix) {
			return nil
		}
		rel, err := filepath.Rel(f.root, p)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		if !strings.HasPrefix(key, prefix) {
			return nil
		}
		fi, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if fnErr = fn(ObjectInfo{Key: key, Size: fi.Size(), ModTime: fi.ModTime()}); fnErr != nil {
			return errStop
		}
		return nil
	})
	if fnErr != nil {
		return fnErr
	}
	if err != nil {
		return fmt.Errorf("store: list: %w", err)
	}
	return nil
}

// Delete implements [ObjectStore]. Directories left empty are removed, up
// to the root.
func (f *FS) Delete(ctx context.Context, key string) error {
	if err := CheckKey(key); err != nil {
		return fmt.Errorf("store: delete: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store: delete %s: %w", key, err)
	}
	p := f.path(key)
	fi, err := os.Lstat(p)
	if err != nil {
		return fmt.Errorf("store: delete %s: %w", key, mapFSErr(err))
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("store: delete %s: %w", key, ErrNotExist)
	}
	if err := os.Remove(p); err != nil {
		return fmt.Errorf("store: delete %s: %w", key, mapFSErr(err))
	}
	for dir := filepath.Dir(p); dir != f.root && strings.HasPrefix(dir, f.root); dir = filepath.Dir(dir) {
		if os.Remove(dir) != nil {
			break // not empty, or already gone
		}
	}
	return nil
}

// mapFSErr turns "no such file" (including a file where a directory is
// expected) into ErrNotExist.
func mapFSErr(err error) error {
	if errors.Is(err, fs.ErrNotExist) || isNotDir(err) {
		return fmt.Errorf("%w: %w", ErrNotExist, err)
	}
	return err
}

var _ ObjectStore = (*FS)(nil)
