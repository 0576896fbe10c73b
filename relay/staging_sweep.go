package relay

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"dicomgate/store"
)

// stagingSweepEvery is how often partial staging files older than
// staging.keep_partial are looked for.
const stagingSweepEvery = time.Hour

// sweepStaging removes the partial staging files in dir last written
// before cutoff, and discards the streamed uploads whose state is that
// old, except those an upload holds (it is resuming them). It returns how
// many files and streamed uploads it removed and the staging files' bytes.
func (s *Server) sweepStaging(ctx context.Context, dir string, cutoff time.Time) (removed int, bytes int64, err error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, 0, fmt.Errorf("relay: sweep staging: %w", err)
	}
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return removed, bytes, err
		}
		if !e.Type().IsRegular() {
			continue
		}
		if strings.HasSuffix(e.Name(), ".stream") {
			if s.sweepStream(ctx, filepath.Join(dir, strings.TrimSuffix(e.Name(), ".stream")+".part"), cutoff) {
				removed++
			}
			continue
		}
		if !strings.HasSuffix(e.Name(), ".part") {
			continue
		}
		path := filepath.Join(dir, e.Name())
		unlock, ok := s.stages.tryLock(path)
		if !ok {
			continue
		}
		// Stat under the lock: an upload may have written it since the
		// listing.
		fi, err := os.Stat(path)
		if err == nil && fi.ModTime().Before(cutoff) {
			if err = os.Remove(path); err == nil {
				removed++
				bytes += fi.Size()
			}
		}
		unlock()
		if err != nil && !os.IsNotExist(err) {
			return removed, bytes, fmt.Errorf("relay: sweep staging: %w", err)
		}
	}
	return removed, bytes, nil
}

// sweepStream discards the streamed upload staged at path (see
// writeStreamed) when its state was last written before cutoff and no
// upload holds it: the parts in the object store, the state, the bytes
// kept after the parts. It reports whether it did.
func (s *Server) sweepStream(ctx context.Context, path string, cutoff time.Time) bool {
	unlock, ok := s.stages.tryLock(path)
	if !ok {
		return false
	}
	defer unlock()
	fi, err := os.Stat(streamStatePath(path))
	if err != nil || !fi.ModTime().Before(cutoff) {
		return false
	}
	st, _ := loadStreamState(path)
	var ps store.PartStore
	if res, err := s.resources(); err == nil {
		ps, _ = res.objects.(store.PartStore)
	}
	if ps == nil {
		st = nil // nothing to abort the parts with
	}
	s.dropStream(ctx, ps, path, st)
	return true
}

// sweepStagingNow runs sweepStaging with the configured keep_partial and
// logs what it removed. A negative keep_partial keeps every file.
func (s *Server) sweepStagingNow(ctx context.Context, dir string) {
	keep := s.cfg.Staging.KeepPartial
	if keep < 0 {
		return
	}
	cutoff := time.Now().Add(-keep)
	n, b, err := s.sweepStaging(ctx, dir, cutoff)
	if err != nil {
		s.log.Warn().Err(err).Msg("staging sweep failed")
	}
	if n > 0 {
		s.log.Info().Int("files", n).Int64("bytes", b).Dur("keep_partial", keep).
			Msg("removed partial staging files older than keep_partial")
	}
	n, err = s.sweepStaleParts(ctx, dir, cutoff)
	if err != nil {
		s.log.Warn().Err(err).Msg("object store sweep of unfinished uploads failed")
	}
	if n > 0 {
		s.log.Info().Int("uploads", n).Dur("keep_partial", keep).
			Msg("aborted unfinished uploads in the object store that no staging state refers to, idle for longer than keep_partial")
	}
}

// sweepStaleParts aborts the object store's unfinished uploads idle since
// before cutoff that no streamed upload staged in dir refers to, whatever
// its age (those are sweepStream's): uploads begun by a relay killed
// before it recorded them, or recorded in a staging folder since lost.
// Another relay's upload on the same bucket is spared while it stores
// parts; idle for keep_partial, its own relay would discard it too. A
// store that cannot list its uploads (the filesystem store, whose upload
// files lie beside their objects) is left alone.
func (s *Server) sweepStaleParts(ctx context.Context, dir string, cutoff time.Time) (int, error) {
	res, err := s.resources()
	if err != nil {
		return 0, nil
	}
	sp, ok := res.objects.(store.StaleParts)
	if !ok {
		return 0, nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, fmt.Errorf("relay: sweep unfinished uploads: %w", err)
	}
	inUse := map[string]bool{}
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".stream")
		if !ok || !e.Type().IsRegular() {
			continue
		}
		st, err := loadStreamState(filepath.Join(dir, name+".part"))
		if err != nil {
			// Unreadable state may still name a live upload: spare them all.
			return 0, fmt.Errorf("relay: sweep unfinished uploads: staging state %s: %w", e.Name(), err)
		}
		if st != nil { // nil: finished since the listing
			inUse[st.UploadID] = true
		}
	}
	n, err := sp.AbortStaleParts(ctx, cutoff, func(id string) bool { return inUse[id] })
	if err != nil {
		return n, fmt.Errorf("relay: sweep unfinished uploads: %w", err)
	}
	return n, nil
}
