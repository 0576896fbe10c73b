package agent

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// dispose applies the disposition d to the committed source file src, found
// under the watched folder root. The file is left alone unless its size and
// modification time still match it (same path, new content is a new item).
// move puts it at the same relative path under moveTo, adding "-1", "-2"...
// before the extension rather than overwriting.
func dispose(it *Item, d Disposition, moveTo string) error {
	if d == Keep || d == "" {
		return nil
	}
	fi, err := os.Lstat(it.SourcePath)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("agent: dispose: %w", pathless(err))
	}
	if fi.Size() != it.SourceSize || !fi.ModTime().Equal(it.SourceModTime) {
		return nil // replaced since: the new content is another item
	}
	switch d {
	case Delete:
		if err := os.Remove(it.SourcePath); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("agent: dispose delete: %w", pathless(err))
		}
		return nil
	case Move:
		rel, err := filepath.Rel(it.Root, it.SourcePath)
		if err != nil || it.Root == "" || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			rel = filepath.Base(it.SourcePath)
		}
		if err := moveNoClobber(it.SourcePath, filepath.Join(moveTo, rel)); err != nil {
			return fmt.Errorf("agent: dispose move: %w", err)
		}
		return nil
	default:
		return fmt.Errorf("agent: dispose: unknown disposition %q", d)
	}
}

// moveNoClobber moves src to dst, or to dst with "-N" before its extension
// if dst exists. It links then unlinks (copying across file systems), so an
// existing file is never replaced.
func moveNoClobber(src, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return pathless(err)
	}
	ext := filepath.Ext(dst)
	stem := strings.TrimSuffix(dst, ext)
	for n := 0; n < 10000; n++ {
		target := dst
		if n > 0 {
			target = stem + "-" + strconv.Itoa(n) + ext
		}
		err := os.Link(src, target)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		if err != nil && (errors.Is(err, syscall.EXDEV) || errors.Is(err, os.ErrPermission) || errors.Is(err, errors.ErrUnsupported)) {
			err = copyExcl(src, target)
			if errors.Is(err, os.ErrExist) {
				continue
			}
		}
		if err != nil {
			return pathless(err)
		}
		return pathless(os.Remove(src))
	}
	return errors.New("too many files with the same name")
}

// copyExcl copies src to a new file dst (failing if dst exists) and syncs it.
func copyExcl(src, dst string) (err error) {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(dst)
		}
	}()
	if _, err := io.Copy(out, in); err != nil {
		return err
	}
	return out.Sync()
}
