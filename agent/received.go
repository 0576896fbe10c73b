package agent

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// receivedName returns a new file name for a received instance, made of
// the time and a random token (nothing from the data set: names carry no
// PHI).
func receivedName() string {
	return strconv.FormatInt(time.Now().UnixNano(), 10) + "-" + newToken() + ".dcm"
}

// writeReceived writes one instance, its Part 10 bytes read from part10,
// as a file into dir: into a temporary dotfile, then fsync, rename to a
// [receivedName] and fsync of dir. It returns the queue source of the
// final file. On error nothing is left in dir. Instances too large for
// the intake journal take this path.
func writeReceived(dir string, part10 io.Reader) (src Source, err error) {
	name := receivedName()
	final := filepath.Join(dir, name)
	f, err := os.OpenFile(filepath.Join(dir, "."+name+".tmp"), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return src, fmt.Errorf("agent: dicom: create: %w", pathless(err))
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	bw := bufio.NewWriterSize(f, 256<<10)
	if _, err = io.Copy(bw, part10); err != nil {
		return src, fmt.Errorf("agent: dicom: receive: %w", pathless(err))
	}
	if err = bw.Flush(); err != nil {
		return src, fmt.Errorf("agent: dicom: write: %w", pathless(err))
	}
	if err = f.Sync(); err != nil {
		return src, fmt.Errorf("agent: dicom: sync: %w", pathless(err))
	}
	fi, err := f.Stat()
	if err != nil {
		return src, fmt.Errorf("agent: dicom: stat: %w", pathless(err))
	}
	if err = f.Close(); err != nil {
		return src, fmt.Errorf("agent: dicom: close: %w", pathless(err))
	}
	if err = os.Rename(f.Name(), final); err != nil {
		return src, fmt.Errorf("agent: dicom: rename: %w", pathless(err))
	}
	if err = syncDir(dir); err != nil {
		os.Remove(final)
		return src, err
	}
	return Source{Path: final, Size: fi.Size(), ModTime: fi.ModTime(), Root: dir}, nil
}

// syncDir fsyncs a folder so that a rename in it survives a power cut.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("agent: dicom: sync folder: %w", pathless(err))
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("agent: dicom: sync folder: %w", pathless(err))
	}
	return nil
}

// recoverReceived removes the partial instances in the received folder
// (their association never got a success) and queues the complete ones an
// earlier run renamed into place but did not queue. Files already queued
// are left as they are.
func (s *SCP) recoverReceived(ctx context.Context) error {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("agent: dicom: received folder: %w", pathless(err))
	}
	requeued := 0
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		p := filepath.Join(s.dir, e.Name())
		if isTempName(e.Name()) {
			os.Remove(p)
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue // vanished
		}
		_, added, err := s.q.Add(ctx, Source{Path: p, Size: fi.Size(), ModTime: fi.ModTime(), Root: s.dir})
		if err != nil {
			return fmt.Errorf("agent: dicom: recover received: %w", err)
		}
		if added {
			requeued++
		}
	}
	if requeued > 0 {
		s.log.Warn().Int("instances", requeued).Msg("dicom: queued received instances left unqueued by an earlier run")
	}
	return nil
}
