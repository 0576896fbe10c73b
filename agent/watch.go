package agent

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/rs/zerolog"
)

// watcher takes stable files from one folder: fsnotify events and a periodic
// rescan make a file a candidate; a candidate is queued once its size and
// modification time have stayed the same for StableFor. Events are
// debounced by that rule: every event on a candidate restarts its clock.
type watcher struct {
	log zerolog.Logger
	q   *Queue
	cfg WatchConfig
	fsw *fsnotify.Watcher
	// alarm is told when the queue's disk is full (nil: not told).
	alarm *storageAlarm

	// Owned by the run goroutine.
	cands  map[string]*candidate
	queued map[string]fileIdent // identities queued (or found queued) already
	// failing is set while queueing fails: logged once, not per file and
	// tick.
	failing bool
}

// fileIdent is a file's identity besides its path.
type fileIdent struct {
	size  int64
	mtime time.Time
}

// candidate is a file waiting to become stable.
type candidate struct {
	fileIdent
	since time.Time // when ident was first observed unchanged
}

func newWatcher(log zerolog.Logger, q *Queue, cfg WatchConfig, alarm *storageAlarm) (*watcher, error) {
	fi, err := os.Stat(cfg.Path)
	if err != nil {
		return nil, pathless(err)
	}
	if !fi.IsDir() {
		return nil, errors.New("path is not a folder")
	}
	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	w := &watcher{log: log, q: q, cfg: cfg, fsw: fsw, alarm: alarm,
		cands: make(map[string]*candidate), queued: make(map[string]fileIdent)}
	if err := w.addDir(cfg.Path); err != nil {
		fsw.Close()
		return nil, err
	}
	return w, nil
}

func (w *watcher) close() { w.fsw.Close() }

// addDir watches dir and, if recursive, every folder below it.
func (w *watcher) addDir(dir string) error {
	if !w.cfg.Recursive {
		return pathless(w.fsw.Add(dir))
	}
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == dir {
				return pathless(err)
			}
			return nil // vanished or unreadable sub-folder: the rescan retries
		}
		if !d.IsDir() {
			return nil
		}
		if p != dir && isTempName(d.Name()) {
			return filepath.SkipDir
		}
		if err := w.fsw.Add(p); err != nil {
			w.log.Warn().Err(pathless(err)).Msg("cannot watch a sub-folder; relying on rescan")
		}
		return nil
	})
}

func (w *watcher) run(ctx context.Context) {
	tick := min(max(w.cfg.StableFor/4, 10*time.Millisecond), time.Second)
	check := time.NewTicker(tick)
	defer check.Stop()
	rescan := time.NewTicker(w.cfg.RescanEvery)
	defer rescan.Stop()
	w.scan(w.cfg.Path)
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.fsw.Events:
			if !ok {
				return
			}
			w.event(ev)
		case err, ok := <-w.fsw.Errors:
			if !ok {
				return
			}
			// An overflow means lost events: the next rescan finds the files.
			w.log.Warn().Err(pathless(err)).Msg("folder watch error")
		case <-rescan.C:
			w.scan(w.cfg.Path)
		case <-check.C:
			w.check(ctx)
		}
	}
}

func (w *watcher) event(ev fsnotify.Event) {
	if ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
		delete(w.cands, ev.Name)
		delete(w.queued, ev.Name)
		return
	}
	if isTempName(filepath.Base(ev.Name)) {
		return
	}
	fi, err := os.Lstat(ev.Name)
	if err != nil {
		delete(w.cands, ev.Name)
		return
	}
	if fi.IsDir() {
		if w.cfg.Recursive && ev.Has(fsnotify.Create) {
			if err := w.addDir(ev.Name); err != nil {
				w.log.Warn().Err(err).Msg("cannot watch a new sub-folder; relying on rescan")
			}
			w.scan(ev.Name) // files written before the watch was added
		}
		return
	}
	w.observe(ev.Name, fi, true)
}

// observe makes the regular file p a candidate. touched says an event
// reported a change, which restarts its stability clock.
func (w *watcher) observe(p string, fi fs.FileInfo, touched bool) {
	if !fi.Mode().IsRegular() {
		return
	}
	id := fileIdent{size: fi.Size(), mtime: fi.ModTime()}
	if q, ok := w.queued[p]; ok && q == id && !touched {
		return
	}
	c, ok := w.cands[p]
	switch {
	case !ok:
		w.cands[p] = &candidate{fileIdent: id, since: time.Now()}
	case touched || c.fileIdent != id:
		c.fileIdent, c.since = id, time.Now()
	}
}

// scan walks dir (and, if recursive, the folders below) and makes every
// file not yet queued a candidate.
func (w *watcher) scan(dir string) {
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == dir {
				return err
			}
			return nil
		}
		if p == dir {
			return nil
		}
		if isTempName(d.Name()) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			if !w.cfg.Recursive {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		if fi, err := d.Info(); err == nil {
			w.observe(p, fi, false)
		}
		return nil
	})
	if err != nil {
		w.log.Warn().Err(pathless(err)).Msg("folder rescan failed")
	}
}

// check queues every candidate that has been stable for StableFor. When
// the queue refuses one (its disk full, its database locked) the pass
// stops: the others wait for the next tick rather than each failing in
// turn, and the failure is logged once until queueing works again.
func (w *watcher) check(ctx context.Context) {
	now := time.Now()
	for p, c := range w.cands {
		fi, err := os.Lstat(p)
		if err != nil || !fi.Mode().IsRegular() {
			delete(w.cands, p)
			continue
		}
		id := fileIdent{size: fi.Size(), mtime: fi.ModTime()}
		if id != c.fileIdent {
			c.fileIdent, c.since = id, now
			continue
		}
		if now.Sub(c.since) < w.cfg.StableFor {
			continue
		}
		qid, added, err := w.q.AddFound(ctx, Source{Path: p, Size: id.size, ModTime: id.mtime, Root: w.cfg.Path})
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if disk := fullDisk(err); disk != "" {
				w.alarm.failed(disk, writerIntake, err)
			}
			if !w.failing {
				w.failing = true
				w.log.Error().Err(err).Msg("cannot queue files; will retry")
			}
			return
		}
		if w.failing {
			w.failing = false
			w.log.Info().Msg("queueing files again")
		}
		w.alarm.succeeded(diskAgent, writerIntake)
		delete(w.cands, p)
		w.queued[p] = id
		if added {
			w.log.Info().Int64("id", qid).Msg("queued")
		}
	}
}
