package agent

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/rs/zerolog"
)

// Intake puts files into the [Queue]: from watched folders while
// [Intake.Run] runs, and on demand through [Intake.Enqueue].
type Intake struct {
	log     zerolog.Logger
	q       *Queue
	watches []WatchConfig
	alarm   *storageAlarm // nil: full disks not reported (see SetPipeline)
}

// SetPipeline makes the intake report a queue whose disk is full in p's
// storage alarm (log, metric, status to the relay), as p's stages do.
// Call it before [Intake.Run].
func (in *Intake) SetPipeline(p *Pipeline) { in.alarm = p.alarm }

// NewIntake returns an Intake feeding q from the folders in watches (with
// defaults applied by [WatchConfig.SetDefaults]).
func NewIntake(log zerolog.Logger, q *Queue, watches []WatchConfig) *Intake {
	ws := make([]WatchConfig, len(watches))
	copy(ws, watches)
	for i := range ws {
		ws[i].SetDefaults()
	}
	return &Intake{log: log, q: q, watches: ws}
}

// Run watches every folder until ctx is cancelled, then returns nil. It
// returns an error at once if a folder cannot be watched.
func (in *Intake) Run(ctx context.Context) error {
	ws := make([]*watcher, 0, len(in.watches))
	for i := range in.watches {
		w, err := newWatcher(in.log.With().Int("watch", i).Logger(), in.q, in.watches[i], in.alarm)
		if err != nil {
			for _, w := range ws {
				w.close()
			}
			return fmt.Errorf("agent: watch[%d]: %w", i, err)
		}
		ws = append(ws, w)
	}
	var wg sync.WaitGroup
	for _, w := range ws {
		wg.Go(func() {
			defer w.close()
			w.run(ctx)
		})
	}
	wg.Wait()
	return nil
}

// Enqueue queues the file at path, or every regular file below it if it is a
// folder (skipping temporary names), for `dicomgate send`. Files already
// queued with the same size and modification time are not queued again. It
// returns the ids of the new items.
func (in *Intake) Enqueue(ctx context.Context, path string) ([]int64, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("agent: enqueue: %w", err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("agent: enqueue: %w", pathless(err))
	}
	if !fi.IsDir() {
		if !fi.Mode().IsRegular() {
			return nil, errors.New("agent: enqueue: not a regular file")
		}
		return in.add(ctx, nil, abs, fi)
	}
	var ids []int64
	err = filepath.WalkDir(abs, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return pathless(err)
		}
		if p != abs && isTempName(d.Name()) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return pathless(err)
		}
		ids, err = in.add(ctx, ids, p, fi)
		return err
	})
	if err != nil {
		return ids, fmt.Errorf("agent: enqueue: %w", err)
	}
	return ids, nil
}

func (in *Intake) add(ctx context.Context, ids []int64, p string, fi fs.FileInfo) ([]int64, error) {
	id, added, err := in.q.Add(ctx, Source{Path: p, Size: fi.Size(), ModTime: fi.ModTime()})
	if err != nil {
		return ids, err
	}
	if added {
		in.log.Info().Int64("id", id).Msg("queued")
		ids = append(ids, id)
	}
	return ids, nil
}

// pathless strips the path from a *fs.PathError, keeping the operation and
// cause, so the error can be logged without PHI.
func pathless(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Op, pe.Err)
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return fmt.Errorf("%s: %w", le.Op, le.Err)
	}
	return err
}
