package agent

import (
	"context"
	"errors"
	"fmt"
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
	// checkpointEvery is the longest a finished instance waits for its
	// checkpoint.
	checkpointEvery = time.Second
	// checkpointRecords finished instances make a checkpoint due.
	checkpointRecords = 256
	// upkeepEvery is how often the SCP looks for segments to reuse when
	// no reservation asked for one.
	upkeepEvery = 2 * time.Second
)

// storeJournalled appends the instance held in c to the intake journal
// and, while the journal's fdatasync runs, queues it (without an fsync)
// with its record as source. It returns nil only once both are done: the
// instance is in the queue and on stable storage, and the journal brings
// the item back after a power cut until the next checkpoint has made it
// durable. It returns [errNoSegment] when no segment is free, having done
// nothing. On any other error nothing of the instance stays.
func (s *SCP) storeJournalled(ctx context.Context, req dimse.StoreRequest, c *chunks) error {
	rec, err := s.j.reserve(c.n)
	if err != nil {
		return err
	}
	if err := s.j.write(rec, c); err != nil {
		s.j.retire(rec.seg)
		s.j.finish(rec, false)
		return err
	}
	// The record is written (readable, not yet durable): its item may be
	// queued while the flush runs; the response waits for both.
	synced := make(chan error, 1)
	go func() { synced <- rec.seg.gsync.wait() }()
	// The instance is complete: record it even if the association ends
	// now, so a success is never lost between commit and response.
	dbctx := context.WithoutCancel(ctx)
	id, qerr := s.q.addReceived(dbctx, Source{Path: segmentSource(rec.seg.path, rec.off, rec.seq),
		Size: c.n, ModTime: time.Now(), Root: s.dir})
	serr := <-synced
	if serr != nil {
		serr = fmt.Errorf("agent: dicom: intake journal sync: %w", pathless(serr))
		if qerr == nil {
			// Not durable: the sender sees the failure and keeps its
			// copy, so the item goes (unless the pipeline already took it,
			// from the bytes it read: then it is a duplicate, never a loss).
			if err := s.q.removeReceived(dbctx, id); err != nil {
				s.log.Warn().Err(err).Int64("id", id).Msg("dicom: cannot remove an item whose instance is not durable")
			}
		}
		s.j.retire(rec.seg)
		s.j.finish(rec, false)
		return serr
	}
	if qerr != nil {
		s.j.finish(rec, false)
		return fmt.Errorf("agent: dicom: %w", qerr)
	}
	s.j.finish(rec, true)
	s.log.Info().Int64("id", id).Msg("queued")
	s.log.Debug().Int64("id", id).Object("request", req).Msg("dicom: instance queued")
	return nil
}

// checkpoints runs checkpoints until stop is closed, then runs a last
// one. A checkpoint waits for a batch: checkpointRecords instances or
// checkpointEvery after an instance finished, whichever comes first, so
// that its fsync is shared by many instances. A checkpoint that fails is
// retried after a pause; meanwhile the segments it did not cover stay in
// use.
func (s *SCP) checkpoints(stop <-chan struct{}) {
	var (
		pause time.Duration
		timer *time.Timer
		due   <-chan time.Time
	)
	for {
		select {
		case <-s.j.ready:
			if s.j.pending() < checkpointRecords {
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

// checkpoint covers the finished records at the front of the journal:
// one synchronous queue commit records the highest sequence number among
// them, and makes durable with it every queue commit before it, their
// items' inserts included. Their segments may then be reused once no item
// needs them.
func (s *SCP) checkpoint(ctx context.Context) error {
	recs := s.j.finishedPrefix()
	if len(recs) == 0 {
		return nil
	}
	if err := s.q.SetCursor(ctx, journalCursor, int64(recs[len(recs)-1].seq)); err != nil {
		return fmt.Errorf("agent: dicom: checkpoint: %w", err)
	}
	s.j.free(len(recs))
	return nil
}

// keepSegments keeps spareSegments free segments ready until stop is
// closed: it reuses the segments no item needs any more and creates new
// ones up to maxSegments, when a reservation took a free one and every
// s.upkeep. With enough free segments it shrinks the journal instead
// (shrinkSegments), at most every sweepEvery.
func (s *SCP) keepSegments(stop <-chan struct{}) {
	tick := time.NewTicker(s.upkeep)
	defer tick.Stop()
	pause := time.Duration(0)
	var swept time.Time // last shrink; the first tick shrinks
	for {
		ticked := false
		select {
		case <-s.j.want:
		case <-tick.C:
			ticked = true
		case <-stop:
			return
		}
		var err error
		if free, _ := s.j.spares(); free < spareSegments {
			err = s.refill(context.Background())
		} else if ticked && time.Since(swept) >= s.sweepEvery() {
			swept = time.Now()
			err = s.shrinkSegments(context.Background())
		} else {
			continue
		}
		if err != nil {
			s.log.Warn().Err(err).Msg("dicom: intake journal upkeep failed")
			pause = min(max(2*pause, 100*time.Millisecond), 5*time.Second)
			select {
			case <-time.After(pause):
			case <-stop:
				return
			}
			continue
		}
		pause = 0
	}
}

// refill frees the segments no item needs any more, then creates new
// ones until spareSegments are free or there are s.segmentLimit.
func (s *SCP) refill(ctx context.Context) error {
	if err := s.reclaim(ctx); err != nil {
		return err
	}
	for {
		free, all := s.j.spares()
		if free >= spareSegments || all >= s.segmentLimit {
			return nil
		}
		if err := s.j.grow(); err != nil {
			return err
		}
	}
}

// sweepEvery is how often the upkeep shrinks the journal: half of
// s.segmentIdle, so that a segment left idle by a backlog is deleted at
// most twice s.segmentIdle after its last item was committed (freed by
// one shrink, deleted by a later one), and the queries of reclaim run
// rarely when the journal is not short of free segments.
func (s *SCP) sweepEvery() time.Duration { return max(s.upkeep, s.segmentIdle/2) }

// shrinkSegments gives back the disk space of segments the journal no
// longer needs, typically after a relay outage filled up to maxSegments:
// it frees the idle segments no item needs (reclaim), then deletes the
// free segments beyond the spareSegments next in line that have been
// free for s.segmentIdle (see shrinkAfter). It logs counts only.
func (s *SCP) shrinkSegments(ctx context.Context) error {
	if err := s.reclaim(ctx); err != nil {
		return err
	}
	n, freed, err := s.j.shrink(spareSegments, s.segmentIdle, time.Now())
	if n > 0 {
		_, all := s.j.spares()
		s.log.Info().Int("segments_removed", n).Int64("bytes_freed", freed).Int("segments", all).
			Msg("dicom: intake journal shrunk")
	}
	return err
}

// reclaim frees the idle segments (their records covered by a
// checkpoint) that no item needs: every item pointing into one is
// committed or discarded. The instance of a quarantined item is copied
// out to a received file first, its item pointed at that file, so that
// review and requeue still find it.
func (s *SCP) reclaim(ctx context.Context) error {
	for _, sg := range s.j.idle() {
		busy, err := s.q.segmentBusy(ctx, sg.path)
		if err != nil {
			return fmt.Errorf("agent: dicom: reclaim segment: %w", err)
		}
		if busy {
			continue
		}
		its, err := s.q.segmentQuarantined(ctx, sg.path)
		if err != nil {
			return fmt.Errorf("agent: dicom: reclaim segment: %w", err)
		}
		for _, it := range its {
			if !it.Discarded() {
				if err := s.copyOut(ctx, it); err != nil {
					return err
				}
			}
		}
		// Checked again in one query, after the copies: an item requeued
		// meanwhile still points into the segment. Once none but
		// committed and discarded ones do, none ever will again: neither
		// can be requeued, and new records go to free segments only.
		needed, err := s.q.segmentNeeded(ctx, sg.path)
		if err != nil {
			return fmt.Errorf("agent: dicom: reclaim segment: %w", err)
		}
		if !needed {
			s.j.release(sg)
		}
	}
	return nil
}

// copyOut writes the instance of a quarantined item, held in a segment,
// to a durable received file and points the item at it, unless it was
// requeued meanwhile. A record that no longer verifies (torn by a crash
// before its response was sent: the sender sends it again) has nothing to
// copy; the item is pointed at a received file name that does not exist,
// so that it no longer holds the segment and a requeue reports the source
// missing.
func (s *SCP) copyOut(ctx context.Context, it *Item) error {
	ref, ok := parseSegmentSource(it)
	if !ok {
		return nil
	}
	var src Source
	rd, err := openRecord(ref, it.SourceSize)
	if err == nil {
		// The payload's checksum is checked as it is copied.
		src, err = writeReceived(s.dir, rd)
		rd.Close()
	}
	if _, perm := errors.AsType[*PermanentError](err); perm {
		s.log.Warn().Int64("id", it.ID).Msg("dicom: quarantined instance no longer in the intake journal")
		gone := Source{Path: filepath.Join(s.dir, receivedName()), Size: it.SourceSize, ModTime: it.SourceModTime}
		if _, err := s.q.moveQuarantinedSource(ctx, it.ID, it.SourcePath, gone); err != nil {
			return fmt.Errorf("agent: dicom: quarantined instance: %w", err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("agent: dicom: copy quarantined instance: %w", err)
	}
	moved, err := s.q.moveQuarantinedSource(ctx, it.ID, it.SourcePath, src)
	if err != nil || !moved {
		os.Remove(src.Path)
	}
	if err != nil {
		return fmt.Errorf("agent: dicom: copy quarantined instance: %w", err)
	}
	return nil
}

// replayJournal runs at start-up, before the pipeline: every complete
// record beyond the checkpoint is an instance whose item a crash may have
// lost, and is queued again unless its item is there; an item seen whose
// record beyond the checkpoint is not complete (queued while its flush
// ran, which the crash cut off: never answered with a success) goes. A
// synchronous commit of the cursor then makes it all durable.
func (s *SCP) replayJournal(ctx context.Context) error {
	after, err := s.q.Cursor(ctx, journalCursor, 0)
	if err != nil {
		return fmt.Errorf("agent: dicom: %w", err)
	}
	last := uint64(after)
	complete := map[string]bool{}
	replayed := 0
	for _, sg := range s.j.segments() {
		recs, maxSeq, err := sg.scan(uint64(after))
		if err != nil {
			return err
		}
		last = max(last, maxSeq)
		for _, rec := range recs {
			path := segmentSource(sg.path, rec.off, rec.seq)
			complete[path] = true
			_, err := s.q.itemBySource(ctx, path)
			if err == nil {
				continue
			}
			if !errors.Is(err, ErrNotFound) {
				return fmt.Errorf("agent: dicom: replay: %w", err)
			}
			if _, err := s.q.addReceived(ctx, Source{Path: path, Size: rec.n, ModTime: time.Now(), Root: s.dir}); err != nil {
				return fmt.Errorf("agent: dicom: replay: %w", err)
			}
			replayed++
		}
	}
	s.j.start(last + 1)
	its, err := s.q.journalItems(ctx, journalDir(s.dir), StateSeen)
	if err != nil {
		return fmt.Errorf("agent: dicom: replay: %w", err)
	}
	dropped := 0
	for _, it := range its {
		if ref, ok := parseSegmentSource(it); ok && ref.seq > uint64(after) && !complete[it.SourcePath] {
			if err := s.q.removeReceived(ctx, it.ID); err != nil {
				return fmt.Errorf("agent: dicom: replay: %w", err)
			}
			dropped++
		}
	}
	if err := s.q.SetCursor(ctx, journalCursor, int64(last)); err != nil {
		return fmt.Errorf("agent: dicom: replay: %w", err)
	}
	if replayed+dropped > 0 {
		s.log.Warn().Int("queued", replayed).Int("dropped", dropped).
			Msg("dicom: intake journal replayed instances an earlier run had not checkpointed")
	}
	return nil
}
