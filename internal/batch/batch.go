// Package batch runs the anonymisation engine over a file or a folder tree
// for `dicomgate anonymize`: a worker per core, atomic output files, a
// quarantine folder with a reason file for everything that fails, progress
// reports and optional re-identification maps.
//
// It is the ad hoc path; the site agent has its own durable pipeline.
package batch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"dicomgate/anonymize"
)

// Options configure a [Run].
type Options struct {
	// Workers is the number of files anonymised at once. Default: NumCPU.
	Workers int
	// QuarantineDir receives a copy of every file that could not be
	// anonymised and a .reason file next to it. Default: OUT + ".quarantine".
	QuarantineDir string
	// Progress, when set, is called after every file (from one goroutine
	// at a time).
	Progress func(Progress)
}

// Progress is the state of a run.
type Progress struct {
	Total       int   // files found
	Done        int   // files finished (written or quarantined)
	Quarantined int   // files quarantined
	Bytes       int64 // input bytes processed
	Elapsed     time.Duration
}

// Result summarises a run.
type Result struct {
	Progress
	QuarantineDir string
}

type job struct {
	src, rel string
	size     int64
}

// Run anonymises in (a file or a folder) into out. For a folder, every
// regular file is processed and written at the same relative path under
// out. A file that fails goes to the quarantine folder, never to out.
// Run returns an error only for problems with in or out themselves.
func Run(ctx context.Context, a *anonymize.Anonymizer, in, out string, opts Options) (*Result, error) {
	start := time.Now()
	info, err := os.Stat(in)
	if err != nil {
		return nil, fmt.Errorf("batch: %w", err)
	}
	if info.IsDir() {
		// Walk the folder a symlink points at, not the link itself.
		if real, err := filepath.EvalSymlinks(in); err == nil {
			in = real
		}
	}
	var jobs []job
	if info.IsDir() {
		err = filepath.WalkDir(in, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.Type().IsRegular() {
				return nil
			}
			fi, err := d.Info()
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(in, path)
			jobs = append(jobs, job{src: path, rel: rel, size: fi.Size()})
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("batch: walk input: %w", err)
		}
	} else {
		rel := filepath.Base(in)
		if oi, err := os.Stat(out); err == nil && oi.IsDir() {
			out = filepath.Join(out, rel)
		}
		jobs = []job{{src: in, rel: "", size: info.Size()}}
	}
	outAbs, _ := filepath.Abs(out)
	inAbs, _ := filepath.Abs(in)
	if info.IsDir() && (outAbs == inAbs || strings.HasPrefix(outAbs, inAbs+string(filepath.Separator))) {
		return nil, errors.New("batch: the output folder must not be inside the input folder")
	}
	qdir := opts.QuarantineDir
	if qdir == "" {
		qdir = strings.TrimRight(out, string(filepath.Separator)) + ".quarantine"
	}
	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.NumCPU()
	}

	var (
		mu       sync.Mutex
		progress = Progress{Total: len(jobs)}
		next     atomic.Int64
		wg       sync.WaitGroup
		fatal    error
	)
	report := func(size int64, quarantined bool) {
		mu.Lock()
		defer mu.Unlock()
		progress.Done++
		progress.Bytes += size
		if quarantined {
			progress.Quarantined++
		}
		progress.Elapsed = time.Since(start)
		if opts.Progress != nil {
			opts.Progress(progress)
		}
	}
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(jobs) || ctx.Err() != nil {
					return
				}
				j := jobs[i]
				dst := out
				if j.rel != "" {
					dst = filepath.Join(out, j.rel)
				}
				err := anonymizeFile(ctx, a, j.src, dst)
				if err != nil && ctx.Err() != nil {
					return
				}
				if err != nil {
					if qerr := quarantineFile(j, qdir, err); qerr != nil {
						mu.Lock()
						fatal = qerr
						mu.Unlock()
						return
					}
				}
				report(j.size, err != nil)
			}
		}()
	}
	wg.Wait()
	if fatal != nil {
		return nil, fatal
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	progress.Elapsed = time.Since(start)
	return &Result{Progress: progress, QuarantineDir: qdir}, nil
}

// anonymizeFile writes the anonymised form of src to dst atomically.
func anonymizeFile(ctx context.Context, a *anonymize.Anonymizer, src, dst string) error {
	f, err := os.Open(src)
	if err != nil {
		return &anonymize.QuarantineError{Kind: anonymize.ErrMalformed, Reason: "cannot open the file"}
	}
	defer f.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("batch: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".dicomgate-*.tmp")
	if err != nil {
		return fmt.Errorf("batch: %w", err)
	}
	_, err = a.Anonymize(ctx, f, tmp)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("batch: %w", err)
	}
	return nil
}

// quarantineFile copies the source into the quarantine folder and writes
// the reason beside it.
func quarantineFile(j job, qdir string, cause error) error {
	rel := j.rel
	if rel == "" {
		rel = filepath.Base(j.src)
	}
	dst := filepath.Join(qdir, rel)
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return fmt.Errorf("batch: quarantine: %w", err)
	}
	if err := copyFile(j.src, dst); err != nil {
		return fmt.Errorf("batch: quarantine: %w", err)
	}
	reason := cause.Error()
	var qe *anonymize.QuarantineError
	if errors.As(cause, &qe) {
		reason = qe.Error()
	}
	return os.WriteFile(dst+".reason", []byte(reason+"\n"), 0o600)
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
