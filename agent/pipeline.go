package agent

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// Pipeline drives queued items through processing (anonymise and seal into
// the spool), upload and commit. Config.Workers items are processed and
// Config.UploadsInFlight uploaded at once.
//
// Each step ends in a queue transition, so the pipeline can stop at any
// point: on restart, an item resumes at its stage (a sealed item is
// uploaded, not processed again).
type Pipeline struct {
	log  zerolog.Logger
	cfg  Config
	q    *Queue
	proc Processor
	up   Uploader
}

// NewPipeline returns a pipeline over q. cfg is copied and completed with
// [Config.SetDefaults]; its spool and quarantine folders, watches (for the
// source disposition), workers, uploads in flight, retry and study idle
// settings are used.
func NewPipeline(log zerolog.Logger, cfg *Config, q *Queue, proc Processor, up Uploader) *Pipeline {
	c := *cfg
	c.Watch = append([]WatchConfig(nil), cfg.Watch...)
	c.SetDefaults()
	return &Pipeline{log: log, cfg: c, q: q, proc: proc, up: up}
}

// Run processes and uploads items until ctx is cancelled, then waits for
// the items in progress: each either finishes its step or is released in
// its current state, resumable by the next Run. It returns nil after a
// cancellation.
func (p *Pipeline) Run(ctx context.Context) error {
	for _, d := range []string{p.cfg.SpoolDir, p.cfg.QuarantineDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("agent: pipeline: %w", pathless(err))
		}
	}
	p.removeSpoolTemps()
	var wg sync.WaitGroup
	for range max(p.cfg.Workers, 1) {
		wg.Go(func() { p.loop(ctx, []State{StateAnonymised, StateSeen}) })
	}
	for range max(p.cfg.UploadsInFlight, 1) {
		wg.Go(func() { p.loop(ctx, []State{StateSent, StateSealed}) })
	}
	wg.Wait()
	return nil
}

// Drain returns nil once no item is pending (every item is committed or
// quarantined), or ctx's error. Items waiting for a retry count as pending.
func (p *Pipeline) Drain(ctx context.Context) error {
	for {
		changed := p.q.Changed()
		n, err := p.q.Pending(ctx)
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("agent: drain: %w", ctx.Err())
		case <-changed:
		case <-time.After(time.Second):
		}
	}
}

// Studies lists the studies with completion judged against Config.StudyIdle.
func (p *Pipeline) Studies(ctx context.Context) ([]Study, error) {
	return p.q.Studies(ctx, p.cfg.StudyIdle, time.Now())
}

// loop claims items in the given states, in order of preference, one at a
// time, until ctx is cancelled.
func (p *Pipeline) loop(ctx context.Context, states []State) {
	poll := min(max(p.cfg.Retry.Min/2, 5*time.Millisecond), time.Second)
	timer := time.NewTimer(poll)
	defer timer.Stop()
	for ctx.Err() == nil {
		changed := p.q.Changed()
		it, err := p.claim(ctx, states)
		if err != nil && ctx.Err() == nil {
			p.log.Error().Err(err).Msg("cannot claim queue items")
		}
		if it != nil {
			p.handle(ctx, it)
			continue
		}
		timer.Reset(poll)
		select {
		case <-ctx.Done():
		case <-changed:
		case <-timer.C:
		}
	}
}

func (p *Pipeline) claim(ctx context.Context, states []State) (*Item, error) {
	for _, s := range states {
		items, err := p.q.Claim(ctx, s, 1)
		if err != nil {
			return nil, err
		}
		if len(items) > 0 {
			return items[0], nil
		}
	}
	return nil, nil
}

// handle runs the step of a claimed item. Queue updates use a context that
// is not cancelled with ctx, so a step that completed is always recorded.
func (p *Pipeline) handle(ctx context.Context, it *Item) {
	var err error
	switch it.State {
	case StateSeen, StateAnonymised:
		err = p.process(ctx, it)
	case StateSealed:
		err = p.upload(ctx, it)
	case StateSent:
		err = p.finish(context.WithoutCancel(ctx), it)
	default:
		err = fmt.Errorf("agent: pipeline: claimed item in state %s", it.State)
	}
	if err != nil {
		p.fail(ctx, it, err)
	}
}

// fail quarantines it on a permanent error, releases it if ctx was
// cancelled, and schedules a retry otherwise.
func (p *Pipeline) fail(ctx context.Context, it *Item, err error) {
	dbctx := context.WithoutCancel(ctx)
	var perm *PermanentError
	switch {
	case errors.As(err, &perm):
		if qerr := p.quarantine(dbctx, it, err); qerr != nil {
			p.log.Error().Err(qerr).Object("item", it).Msg("cannot quarantine item")
			p.release(dbctx, it)
		}
	case ctx.Err() != nil:
		p.release(dbctx, it)
	default:
		d := backoff(p.cfg.Retry.Min, p.cfg.Retry.Max, it.Attempts+1)
		p.log.Warn().Err(err).Object("item", it).Dur("retry_in", d).Msg("step failed; will retry")
		if rerr := p.q.Retry(dbctx, it.ID, time.Now().Add(d), err.Error()); rerr != nil {
			p.log.Error().Err(rerr).Object("item", it).Msg("cannot schedule retry")
			p.release(dbctx, it)
		}
	}
}

func (p *Pipeline) release(ctx context.Context, it *Item) {
	if err := p.q.Release(ctx, it.ID); err != nil {
		p.log.Error().Err(err).Object("item", it).Msg("cannot release item")
	}
}

// process anonymises and seals a seen (or half-processed) item into the
// spool and marks it anonymised, then sealed.
func (p *Pipeline) process(ctx context.Context, it *Item) error {
	src, err := os.Open(it.SourcePath)
	if errors.Is(err, os.ErrNotExist) {
		return Permanent("source file missing", nil)
	}
	if err != nil {
		return fmt.Errorf("agent: open source: %w", pathless(err))
	}
	defer src.Close()
	fi, err := src.Stat()
	if err != nil {
		return fmt.Errorf("agent: stat source: %w", pathless(err))
	}
	if fi.Size() != it.SourceSize || !fi.ModTime().Equal(it.SourceModTime) {
		return Permanent("source file changed after it was queued", nil)
	}
	sw, err := newSpoolWriter(p.cfg.SpoolDir, it.ID)
	if err != nil {
		return err
	}
	h := sha256.New()
	cw := &countWriter{}
	res, err := p.proc.Process(ctx, it, bufio.NewReaderSize(src, 1<<20), io.MultiWriter(sw, h, cw))
	if err == nil && res == nil {
		err = errors.New("agent: processor returned no result")
	}
	if err == nil {
		err = sw.sync()
	}
	if err != nil {
		sw.abort()
		return err
	}
	sum := h.Sum(nil)
	if res.Size == 0 {
		res.Size = cw.n
	}
	if res.SHA256 == nil {
		res.SHA256 = sum
	}
	if res.Size != cw.n || !bytes.Equal(res.SHA256, sum) {
		sw.abort()
		return Permanent("sealed file size or hash differs from the processor's result", nil)
	}
	dbctx := context.WithoutCancel(ctx)
	if err := p.q.MarkAnonymised(dbctx, it.ID, res); err != nil {
		sw.abort()
		return err
	}
	dst := spoolPath(p.cfg.SpoolDir, it.ID)
	if err := sw.commit(dst); err != nil {
		return err
	}
	if err := p.q.MarkSealed(dbctx, it.ID, dst); err != nil {
		return err
	}
	p.log.Debug().Int64("id", it.ID).Msg("sealed")
	return nil
}

// upload sends a sealed item and marks it sent, then finishes it.
func (p *Pipeline) upload(ctx context.Context, it *Item) error {
	dbctx := context.WithoutCancel(ctx)
	f, err := os.Open(it.SpoolPath)
	if errors.Is(err, os.ErrNotExist) {
		p.log.Warn().Object("item", it).Msg("sealed file missing from spool; processing again")
		return p.q.Reprocess(dbctx, it.ID, "sealed file missing from spool")
	}
	if err != nil {
		return fmt.Errorf("agent: open spool: %w", pathless(err))
	}
	receipt, err := p.up.Upload(ctx, it, f)
	f.Close()
	if err != nil {
		return err
	}
	if err := p.q.MarkSent(dbctx, it.ID, receipt); err != nil {
		return err
	}
	it.State, it.Receipt = StateSent, receipt
	return p.finish(dbctx, it)
}

// finish applies the source disposition of a sent item, removes its spool
// file and marks it committed. A disposition that fails is logged and not
// retried: the relay holds the file.
func (p *Pipeline) finish(ctx context.Context, it *Item) error {
	d, moveTo := Keep, ""
	for _, w := range p.cfg.Watch {
		if it.Root != "" && w.Path == it.Root {
			d, moveTo = w.AfterCommit, w.MoveTo
		}
	}
	if err := dispose(it, d, moveTo); err != nil {
		p.log.Warn().Err(err).Object("item", it).Msg("source disposition failed; source left in place")
	}
	if it.SpoolPath != "" {
		if err := os.Remove(it.SpoolPath); err != nil && !errors.Is(err, os.ErrNotExist) {
			p.log.Warn().Err(pathless(err)).Object("item", it).Msg("cannot remove spool file")
		}
	}
	if err := p.q.MarkCommitted(ctx, it.ID); err != nil {
		return err
	}
	p.log.Info().Int64("id", it.ID).Str("file_id", it.FileID).Msg("committed")
	return nil
}

// quarantine writes quarantine_dir/<id>.reason and marks it quarantined.
// The source file is left where it is; the spool file is removed.
func (p *Pipeline) quarantine(ctx context.Context, it *Item, cause error) error {
	reason := cause.Error()
	text := fmt.Sprintf("item: %d\nstate: %s\ntime: %s\nreason: %s\n",
		it.ID, it.State, time.Now().UTC().Format(time.RFC3339), reason)
	path := filepath.Join(p.cfg.QuarantineDir, fmt.Sprintf("%d.reason", it.ID))
	if err := writeFileAtomicMode(path, []byte(text), 0o600); err != nil {
		return err
	}
	if it.SpoolPath != "" {
		os.Remove(it.SpoolPath)
	}
	os.Remove(spoolPath(p.cfg.SpoolDir, it.ID))
	if err := p.q.Quarantine(ctx, it.ID, reason); err != nil {
		return err
	}
	p.log.Error().Object("item", it).Str("reason", reason).Msg("quarantined")
	return nil
}

// removeSpoolTemps deletes temporary spool files left by a crash.
func (p *Pipeline) removeSpoolTemps() {
	temps, _ := filepath.Glob(filepath.Join(p.cfg.SpoolDir, ".*.sealed.tmp-*"))
	for _, t := range temps {
		os.Remove(t)
	}
}

// countWriter counts the bytes written to it.
type countWriter struct{ n int64 }

func (c *countWriter) Write(b []byte) (int, error) {
	c.n += int64(len(b))
	return len(b), nil
}
