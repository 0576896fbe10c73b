package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"dicomgate/dimse"
)

const (
	// maxJournalled is the largest instance (Part 10 bytes) received into
	// memory and the intake journal; larger ones are written straight to
	// their file and synced there (writeReceived).
	maxJournalled = 4 << 20
	// defaultReserveWait bounds the wait for journal space, which only
	// runs out when checkpoints fail; the sender then gets 0xA700.
	defaultReserveWait = 30 * time.Second
	// checkpointEvery is the longest a finished instance waits for its
	// checkpoint.
	checkpointEvery = time.Second
	// checkpointFiles finished instances make a checkpoint due (each holds
	// its received file open until then).
	checkpointFiles = 256
)

// storeJournalled makes the instance held in c durable in the intake
// journal and, at the same time, writes it into f, the new temporary file
// for the received file name; once the journal record is on stable
// storage the file is renamed into place and queued, both without an
// fsync. It returns nil only then: the instance is in the queue, and the
// journal brings file and item back after a power cut until the next
// checkpoint has made both durable. On error f is removed.
func (s *SCP) storeJournalled(ctx context.Context, req dimse.StoreRequest, name string, f *os.File, c *chunks) error {
	rctx, cancel := context.WithTimeout(ctx, s.reserveWait)
	rec, err := s.j.reserve(rctx, name, c.n)
	cancel()
	if err != nil {
		discardTemp(f)
		return err
	}
	synced := make(chan error, 1)
	go func() { synced <- s.j.write(rec, c) }()
	err = writeDirect(f, c)
	if err != nil {
		err = fmt.Errorf("agent: dicom: write: %w", pathless(err))
	}
	if jerr := <-synced; err == nil {
		err = jerr
	}
	final := filepath.Join(s.dir, name)
	if err == nil {
		// The name appears only now that the record is durable, so a
		// received file is always complete or replaced by the recovery.
		if rerr := os.Rename(f.Name(), final); rerr != nil {
			err = fmt.Errorf("agent: dicom: rename: %w", pathless(rerr))
		}
	}
	var fi os.FileInfo
	if err == nil {
		if fi, err = f.Stat(); err != nil {
			err = fmt.Errorf("agent: dicom: stat: %w", pathless(err))
			os.Remove(final)
		}
	}
	if err != nil {
		discardTemp(f)
		s.j.finish(rec, nil)
		return err
	}
	// The instance is complete: record it even if the association ends
	// now, so a success is never lost between commit and response.
	id, err := s.q.addReceived(context.WithoutCancel(ctx),
		Source{Path: final, Size: fi.Size(), ModTime: fi.ModTime(), Root: s.dir})
	if err != nil {
		// Not queued: drop our copy, the sender sees the failure and
		// keeps its own.
		f.Close()
		if rerr := os.Remove(final); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			s.log.Warn().Err(pathless(rerr)).Msg("dicom: cannot remove an instance that was not queued")
		}
		s.j.finish(rec, nil)
		return fmt.Errorf("agent: dicom: %w", err)
	}
	s.j.finish(rec, f)
	s.log.Info().Int64("id", id).Msg("queued")
	s.log.Debug().Int64("id", id).Object("request", req).Msg("dicom: instance queued")
	return nil
}

// createTemp creates in dir the temporary dotfile for the received file
// name.
func createTemp(dir, name string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "."+name+".tmp"), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("agent: dicom: create: %w", pathless(err))
	}
	return f, nil
}

// discardTemp closes and removes a temporary file.
func discardTemp(f *os.File) {
	f.Close()
	os.Remove(f.Name())
}

// checkpoints runs checkpoints until stop is closed, then runs a last
// one. A checkpoint waits for a batch: half the journal, checkpointFiles
// instances or checkpointEvery after an instance finished, whichever comes
// first, so that its fsyncs (which stall the file system's other writers
// while they commit) are shared by many instances. A checkpoint that
// fails is retried after a pause; meanwhile the journal keeps the
// instances, and fills up.
func (s *SCP) checkpoints(stop <-chan struct{}) {
	var (
		pause time.Duration
		timer *time.Timer
		due   <-chan time.Time
	)
	for {
		select {
		case <-s.j.ready:
			if !s.batchReady() {
				if timer == nil {
					timer = time.NewTimer(checkpointEvery)
					due = timer.C
				}
				continue
			}
		case <-due:
		case <-stop:
			if err := s.checkpoint(context.Background()); err != nil {
				s.log.Error().Err(err).Msg("dicom: last intake checkpoint failed; the journal keeps the instances for the next start")
			}
			return
		}
		if timer != nil {
			timer.Stop()
			timer, due = nil, nil
		}
		if err := s.checkpoint(context.Background()); err != nil {
			s.log.Error().Err(err).Msg("dicom: intake checkpoint failed")
			pause = min(max(2*pause, 100*time.Millisecond), 5*time.Second)
			timer = time.NewTimer(pause)
			due = timer.C
			continue
		}
		pause = 0
		if s.j.pending() > 0 {
			// Instances finished meanwhile: they wait for the next batch.
			timer = time.NewTimer(checkpointEvery)
			due = timer.C
		}
	}
}

// batchReady reports whether enough has finished for a checkpoint.
func (s *SCP) batchReady() bool {
	used, total := s.j.usage()
	return 2*used >= total || s.j.pending() >= checkpointFiles
}

// checkpoint makes the finished instances at the front of the journal
// durable outside it: fsync of their received files and of the received
// folder, then one synchronous queue commit that records the highest
// sequence number covered (and with it every queue commit before it).
// Only then are their records freed.
func (s *SCP) checkpoint(ctx context.Context) error {
	if s.ckErr != nil {
		return s.ckErr
	}
	recs := s.j.finishedPrefix()
	if len(recs) == 0 {
		return nil
	}
	var files []*os.File
	for _, r := range recs {
		if r.file != nil {
			startWriteback(r.file)
			files = append(files, r.file)
		}
	}
	for _, f := range files {
		if err := datasync(f); err != nil {
			// The file's pages may be gone: only the journal still has
			// the instance, and the recovery at the next start restores
			// it. Until then no record is freed.
			s.ckErr = fmt.Errorf("agent: dicom: checkpoint: sync received file: %w", pathless(err))
			return s.ckErr
		}
	}
	if len(files) > 0 {
		if err := syncDir(s.dir); err != nil {
			return fmt.Errorf("agent: dicom: checkpoint: %w", err)
		}
	}
	if err := s.q.SetCursor(ctx, journalCursor, int64(recs[len(recs)-1].seq)); err != nil {
		return fmt.Errorf("agent: dicom: checkpoint: %w", err)
	}
	for _, f := range files {
		f.Close()
	}
	s.j.free(len(recs))
	return nil
}

// replayJournal runs at start-up, before the pipeline: every complete
// record beyond the checkpoint is an instance whose received file or queue
// item a crash may have lost. One without an item is written again and
// queued; one whose item still waits (seen) gets its file back if the file
// differs from the record; the others were processed further and need
// nothing. A checkpoint then makes it all durable.
func (s *SCP) replayJournal(ctx context.Context) error {
	after, err := s.q.Cursor(ctx, journalCursor, 0)
	if err != nil {
		return fmt.Errorf("agent: dicom: %w", err)
	}
	jr, err := s.j.reader()
	if err != nil {
		return err
	}
	defer jr.close()
	recs, maxSeq, err := jr.scan(uint64(after))
	if err != nil {
		return err
	}
	last := max(uint64(after), maxSeq)
	s.j.start(last + 1)
	var files []*os.File
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	replayed, restored := 0, 0
	for _, rec := range recs {
		final := filepath.Join(s.dir, rec.name)
		it, err := s.q.itemBySource(ctx, final)
		switch {
		case errors.Is(err, ErrNotFound):
			f, err := restoreReceived(jr, rec, final, time.Time{})
			if err != nil {
				return err
			}
			files = append(files, f)
			fi, err := f.Stat()
			if err != nil {
				return fmt.Errorf("agent: dicom: replay: %w", pathless(err))
			}
			if _, err := s.q.addReceived(ctx, Source{Path: final, Size: fi.Size(), ModTime: fi.ModTime(), Root: s.dir}); err != nil {
				return fmt.Errorf("agent: dicom: replay: %w", err)
			}
			replayed++
		case err != nil:
			return fmt.Errorf("agent: dicom: replay: %w", err)
		case it.State == StateSeen && !sameContent(final, rec):
			f, err := restoreReceived(jr, rec, final, it.SourceModTime)
			if err != nil {
				return err
			}
			files = append(files, f)
			restored++
		}
	}
	for _, f := range files {
		if err := datasync(f); err != nil {
			return fmt.Errorf("agent: dicom: replay: %w", pathless(err))
		}
	}
	if len(files) > 0 {
		if err := syncDir(s.dir); err != nil {
			return err
		}
	}
	if last > uint64(after) {
		if err := s.q.SetCursor(ctx, journalCursor, int64(last)); err != nil {
			return fmt.Errorf("agent: dicom: replay: %w", err)
		}
	}
	if replayed+restored > 0 {
		s.log.Warn().Int("queued", replayed).Int("restored", restored).
			Msg("dicom: intake journal replayed instances an earlier run had not checkpointed")
	}
	return nil
}

// restoreReceived writes a record's instance to final (temporary file,
// rename) and returns it open; a non-zero mtime is set on it, so that it
// matches its queue item.
func restoreReceived(jr *journalReader, rec scannedRecord, final string, mtime time.Time) (*os.File, error) {
	tmp := filepath.Join(filepath.Dir(final), "."+rec.name+".tmp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("agent: dicom: replay: %w", pathless(err))
	}
	_, err = io.Copy(f, jr.payload(rec))
	if err == nil && !mtime.IsZero() {
		err = os.Chtimes(tmp, mtime, mtime)
	}
	if err == nil {
		err = os.Rename(tmp, final)
	}
	if err != nil {
		f.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("agent: dicom: replay: %w", pathless(err))
	}
	return f, nil
}

// sameContent reports whether the file at path holds exactly the record's
// payload.
func sameContent(path string, rec scannedRecord) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || fi.Size() != rec.n {
		return false
	}
	var sum uint32
	buf := make([]byte, 256<<10)
	for {
		k, err := f.Read(buf)
		sum = crc32c(sum, buf[:k])
		if errors.Is(err, io.EOF) {
			return sum == rec.crc
		}
		if err != nil {
			return false
		}
	}
}
