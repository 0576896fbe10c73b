package forward

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"dicomgate/dimse"
)

// Forwarder delivers Part 10 files to a PACS.
type Forwarder interface {
	// Forward sends every file in files (paths of Part 10 files). It goes
	// on after a failed file and returns the failures joined, each a
	// *[FileError]; the Result counts both.
	Forward(ctx context.Context, files []string) (*Result, error)
}

// Result summarises a Forward.
type Result struct {
	// Files is the number of files given.
	Files int
	// Sent counts files the PACS accepted (warnings count as accepted).
	Sent int
	// Failed counts the others.
	Failed int
	// Bytes counts the Part 10 bytes of the files sent.
	Bytes int64
}

// FileError is the failure of one file.
type FileError struct {
	// Name is the file's base name (fetched files are named by their
	// pseudonymous SOP instance UID).
	Name string
	// Err is the cause.
	Err error
}

// Error implements error.
func (e *FileError) Error() string { return "forward " + e.Name + ": " + e.Err.Error() }

// Unwrap returns the cause.
func (e *FileError) Unwrap() error { return e.Err }

// ErrNotAccepted is wrapped by the failure of a file the PACS refused to
// negotiate or to store.
var ErrNotAccepted = errors.New("forward: not accepted by the pacs")

// Files lists the *.dcm files below root, sorted, skipping folders whose
// name starts with a dot (such as fetch's partial downloads).
func Files(root string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != root && strings.HasPrefix(d.Name(), ".") {
			return filepath.SkipDir
		}
		if d.Type().IsRegular() && strings.EqualFold(filepath.Ext(p), ".dcm") && !strings.HasPrefix(d.Name(), ".") {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("forward: list files: %w", err)
	}
	sort.Strings(files)
	return files, nil
}

// fileInfo is a file with its meta and size.
type fileInfo struct {
	path string
	meta dimse.FileMeta
	size int64
}

// readMeta reads the file meta group of path.
func readMeta(path string) (fileInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return fileInfo{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fileInfo{}, err
	}
	m, err := dimse.ReadFileMeta(bufio.NewReaderSize(f, 4096))
	if err != nil {
		return fileInfo{}, err
	}
	return fileInfo{path: path, meta: m, size: fi.Size()}, nil
}

// fileErr wraps err for path.
func fileErr(path string, err error) error {
	return &FileError{Name: filepath.Base(path), Err: err}
}

var _ error = (*FileError)(nil)
