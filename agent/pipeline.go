package agent

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"dicomgate/seal"
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

	processing, uploading *pipelineStage
	alarm                 *storageAlarm // full disks (storagefull.go)

	metrics *Metrics // nil: not measured (see SetMetrics)
	bufs    bufPools
	mem     *memSpool // sealed files of small sources, held in memory
	// uploadsFailing is set while uploads fail (the relay unreachable,
	// refusing for now): files are then sealed into the spool folder.
	uploadsFailing atomic.Bool
	// spilling is held while keepHeld writes held files to the spool.
	spilling sync.Mutex
	// signer is the key this agent signs manifests with (SetSigner); nil:
	// not checked.
	signer ed25519.PublicKey
	// policyHash is the hash of the anonymisation policy this agent
	// applies (SetPolicy); "": not checked.
	policyHash string
	// recipients are the fingerprints of the keys this agent seals to
	// (SetRecipients), sorted; nil: not checked.
	recipients []string
}

// SetSigner tells the pipeline the agent's manifest-signing key: a file
// sealed under another key (an earlier enrolment, replaced by `dicomgate
// agent enroll --force`) is anonymised and sealed again instead of being
// offered to a relay that would refuse it.
func (p *Pipeline) SetSigner(pub ed25519.PublicKey) { p.signer = pub }

// SetPolicy tells the pipeline the hash of the anonymisation policy the
// agent applies: a file sealed under another policy (the agent restarted
// with a changed policy while files waited for the relay) is anonymised
// and sealed again under this one before it is offered, so that a policy
// tightened to remove more applies to every file not yet sent.
func (p *Pipeline) SetPolicy(hash string) { p.policyHash = hash }

// SetRecipients tells the pipeline the fingerprints of the recipient keys
// the agent seals to: a file in the spool sealed to other recipients (the
// agent restarted with a key added, or one removed because it was lost or
// its holder left the project) is anonymised and sealed again to these
// before it is offered, so that no file goes out readable by a removed
// key, or unreadable by an added one.
func (p *Pipeline) SetRecipients(fingerprints []string) {
	p.recipients = slices.Sorted(slices.Values(fingerprints))
}

// sealedToOthers reports whether the sealed file f was sealed to other
// recipients than the agent's (SetRecipients). A header it cannot read
// is left to the relay and the recipients, which refuse a damaged file.
func (p *Pipeline) sealedToOthers(f io.ReaderAt) bool {
	if p.recipients == nil {
		return false
	}
	fps, err := seal.SealedRecipients(io.NewSectionReader(f, 0, 1<<62))
	if err != nil {
		return false
	}
	slices.Sort(fps)
	return !slices.Equal(fps, p.recipients)
}

// resealReason says why the sealed item it must be anonymised and sealed
// again instead of offered as it is, or "" when it need not: sealed under
// a key other than the agent's own (SetSigner), or under another
// anonymisation policy (SetPolicy).
func (p *Pipeline) resealReason(it *Item) string {
	if len(it.Manifest) == 0 {
		return ""
	}
	// One decoding serves both checks: the signer is seen before the
	// signature is verified, so a file sealed under another key is
	// recognised whatever its signature.
	var signer ed25519.PublicKey
	m, err := seal.OpenManifest(it.Manifest, func(pub ed25519.PublicKey) error { signer = pub; return nil })
	if p.signer != nil && signer != nil && !signer.Equal(p.signer) {
		return "sealed under an earlier enrolment"
	}
	if err == nil && p.policyHash != "" && m.PolicyHash != p.policyHash {
		return "sealed under another anonymisation policy"
	}
	return "" // or unreadable: the relay refuses it, and says why
}

// Writers named in storage-full alarms besides the stages.
const writerIntake = "intake"

// pipelineStage is one of the pipeline's two stages.
type pipelineStage struct {
	// name is "process" or "upload": the writer named in storage-full
	// alarms.
	name string
	// states are the states the stage claims, in order of preference.
	states []State
	// pause holds the stage back while the disk it writes to is full.
	pause stagePause
}

// NewPipeline returns a pipeline over q. cfg is copied and completed with
// [Config.SetDefaults]; its spool and quarantine folders, watches (for the
// source disposition), workers, uploads in flight, retry and study idle
// settings, and its spool_memory budget, are used.
func NewPipeline(log zerolog.Logger, cfg *Config, q *Queue, proc Processor, up Uploader) *Pipeline {
	c := *cfg
	c.Watch = append([]WatchConfig(nil), cfg.Watch...)
	c.SetDefaults()
	return &Pipeline{log: log, cfg: c, q: q, proc: proc, up: up,
		processing: &pipelineStage{name: "process", states: []State{StateAnonymised, StateSeen}},
		uploading:  &pipelineStage{name: "upload", states: []State{StateSent, StateSealed}},
		alarm:      newStorageAlarm(log, c.Retry.Max),
		mem:        newMemSpool(c.SpoolMemory)}
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
	p.removeSpoolTemps(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { p.stage(ctx, p.processing, max(p.cfg.Workers, 1)) })
	wg.Go(func() { p.stage(ctx, p.uploading, max(p.cfg.UploadsInFlight, 1)) })
	wg.Wait()
	p.keepHeld(context.WithoutCancel(ctx))
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

// idleRecheck bounds how long a stage waits for a queue change when no
// item is due: a safety net only, every change is notified.
const idleRecheck = 5 * time.Second

// stage runs n workers over the items in st's states, in order of
// preference, until ctx is cancelled. One feeder claims for all of them,
// as many items as workers are idle, whenever the queue changes
// (Queue.Changed), a worker is done or the earliest retry falls due;
// workers never poll the queue. While st is paused (a disk full) it
// claims one item at a time, after the pause's back-off.
func (p *Pipeline) stage(ctx context.Context, st *pipelineStage, n int) {
	work := make(chan *Item, n)
	done := make(chan struct{}, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for it := range work {
				if ctx.Err() != nil {
					p.release(context.WithoutCancel(ctx), it)
				} else {
					p.handle(ctx, st, it)
				}
				done <- struct{}{}
			}
		})
	}
	defer func() {
		close(work)
		wg.Wait()
	}()
	timer := time.NewTimer(idleRecheck)
	defer timer.Stop()
	idle := n
	for {
		for more := true; more; {
			select {
			case <-done:
				idle++
			default:
				more = false
			}
		}
		if idle == 0 {
			select {
			case <-ctx.Done():
				return
			case <-done:
				idle++
			}
		}
		if ctx.Err() != nil {
			return
		}
		changed := p.q.Changed()
		limit, paused := st.pause.admit(time.Now(), idle, n)
		var (
			items []*Item
			err   error
		)
		if limit > 0 {
			items, err = p.claim(ctx, st.states, limit)
		}
		if err != nil && ctx.Err() == nil {
			if disk := fullDisk(err); disk != "" {
				// Claims write to the queue: its disk is full.
				st.pause.failed(time.Now(), p.cfg.Retry)
				p.alarm.failed(disk, st.name, err)
			} else {
				p.log.Error().Err(err).Msg("cannot claim queue items")
			}
		}
		for _, it := range items {
			work <- it // never blocks: at most idle items are claimed
			idle--
		}
		if len(items) > 0 {
			continue
		}
		wait := idleRecheck
		if limit == 0 {
			// Paused: until the back-off ends, or the item in progress is
			// done.
			if paused > 0 {
				wait = paused
			}
		} else if err != nil {
			wait = min(max(p.cfg.Retry.Min, 5*time.Millisecond), time.Second)
		} else if next, ok, err := p.q.NextDue(ctx, st.states...); err != nil {
			wait = min(max(p.cfg.Retry.Min, 5*time.Millisecond), time.Second)
		} else if ok {
			wait = min(max(time.Until(next), time.Millisecond), idleRecheck)
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
		case <-changed:
		case <-done:
			idle++
		case <-timer.C:
		}
		timer.Stop()
	}
}

// claim leases up to limit items in the given states, in order of
// preference.
func (p *Pipeline) claim(ctx context.Context, states []State, limit int) ([]*Item, error) {
	var out []*Item
	for _, s := range states {
		if len(out) >= limit {
			break
		}
		items, err := p.q.Claim(ctx, s, limit-len(out))
		if err != nil {
			return out, err
		}
		out = append(out, items...)
	}
	return out, nil
}

// handle runs the step of a claimed item of st. Queue updates use a
// context that is not cancelled with ctx, so a step that completed is
// always recorded.
func (p *Pipeline) handle(ctx context.Context, st *pipelineStage, it *Item) {
	var err error
	state := it.State
	switch state {
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
		p.fail(ctx, st, it, err)
		return
	}
	// The stage's writes went through: its disks have room.
	st.pause.succeeded()
	p.alarm.succeeded(diskAgent, st.name)
	if state == StateSealed {
		p.alarm.succeeded(diskRelay, st.name)
	}
}

// fail quarantines it on a permanent error, releases it if ctx was
// cancelled, and schedules a retry otherwise. A full disk (the agent's, or
// the relay's by its refusal) is never permanent: the item is retried and
// st paused, and the alarm reports the episode once.
func (p *Pipeline) fail(ctx context.Context, st *pipelineStage, it *Item, err error) {
	dbctx := context.WithoutCancel(ctx)
	p.countFailure(ctx, err)
	var perm *PermanentError
	switch {
	case errors.As(err, &perm):
		if qerr := p.quarantine(dbctx, it, err); qerr != nil {
			p.log.Error().Err(qerr).Object("item", it).Msg("cannot quarantine item")
			p.releaseRetrying(ctx, it)
		}
	case ctx.Err() != nil:
		p.release(dbctx, it)
	default:
		ev := p.log.Warn()
		if disk := fullDisk(err); disk != "" {
			st.pause.failed(time.Now(), p.cfg.Retry)
			p.alarm.failed(disk, st.name, err)
			ev = p.log.Debug() // the alarm warned, once per episode
		}
		d := backoff(p.cfg.Retry.Min, p.cfg.Retry.Max, it.Attempts+1)
		ev.Err(err).Object("item", it).Dur("retry_in", d).Msg("step failed; will retry")
		if rerr := p.q.Retry(dbctx, it.ID, time.Now().Add(d), err.Error()); rerr != nil {
			p.log.Error().Err(rerr).Object("item", it).Msg("cannot schedule retry")
			p.releaseRetrying(ctx, it)
		}
	}
}

func (p *Pipeline) release(ctx context.Context, it *Item) {
	if err := p.q.Release(ctx, it.ID); err != nil {
		p.log.Error().Err(err).Object("item", it).Msg("cannot release item")
	}
}

// releaseRetrying releases it, trying again with back-off while the queue
// cannot be written (its disk full, its database locked), until it
// succeeds or ctx ends: a lease left behind would keep the item from
// every claim until the agent restarts. After ctx ends the next
// [OpenQueue] releases it.
func (p *Pipeline) releaseRetrying(ctx context.Context, it *Item) {
	dbctx := context.WithoutCancel(ctx)
	for attempt := 1; ; attempt++ {
		err := p.q.Release(dbctx, it.ID)
		if err == nil || errors.Is(err, ErrNotFound) || errors.Is(err, ErrStateConflict) {
			return
		}
		if attempt == 1 {
			p.log.Error().Err(err).Object("item", it).Msg("cannot release item; retrying")
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff(max(p.cfg.Retry.Min, 10*time.Millisecond), p.cfg.Retry.Max, attempt)):
		}
	}
}

// process anonymises and seals a seen (or half-processed) item into the
// spool and marks it anonymised, then sealed.
func (p *Pipeline) process(ctx context.Context, it *Item) error {
	src, err := openSource(it)
	if err != nil {
		return err
	}
	defer src.Close()
	if p.uploadsFailing.Load() {
		// Nothing is uploaded now: straight to the spool folder.
	} else if mf := p.mem.reserveWait(ctx, it.SourceSize, memSpoolWait); mf != nil {
		return p.processInMemory(ctx, it, src, mf)
	}
	sw, err := newSpoolWriter(p.cfg.SpoolDir, it.ID, &p.bufs)
	if err != nil {
		return err
	}
	br := p.bufs.reader(src)
	res, err := p.proc.Process(ctx, it, br, sw)
	p.bufs.putReader(br)
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
	// The processor hashes what it writes (the seal writer does, for the
	// manifest); a processor that does not report it gets it measured.
	if res.Size == 0 {
		res.Size = sw.n
	}
	if res.SHA256 == nil {
		if res.SHA256, err = sw.sum(); err != nil {
			sw.abort()
			return err
		}
	}
	if res.Size != sw.n {
		sw.abort()
		return Permanent("sealed file size differs from the processor's result", nil)
	}
	// The spool file is durable (fsynced, renamed, folder fsynced) before
	// the item is marked sealed, in one transaction with the processing
	// result: until then the item stays seen and a restart processes it
	// again into the same spool path.
	dbctx := context.WithoutCancel(ctx)
	dst := spoolPath(p.cfg.SpoolDir, it.ID)
	if err := sw.commit(dst); err != nil {
		return err
	}
	if err := p.q.MarkProcessed(dbctx, it.ID, res, dst); err != nil {
		return err
	}
	p.log.Debug().Int64("id", it.ID).Msg("sealed")
	return nil
}

// upload sends a sealed item and marks it sent, then finishes it.
func (p *Pipeline) upload(ctx context.Context, it *Item) error {
	dbctx := context.WithoutCancel(ctx)
	if it.SpoolPath == "" {
		return p.uploadInMemory(ctx, it)
	}
	if why := p.resealReason(it); why != "" {
		p.log.Info().Object("item", it).Str("reason", why).Msg("anonymising and sealing again before upload")
		if err := p.q.Reprocess(dbctx, it.ID, why); err != nil {
			return err
		}
		p.removeSpool(it)
		return nil
	}
	f, err := os.Open(it.SpoolPath)
	if errors.Is(err, os.ErrNotExist) {
		p.log.Warn().Object("item", it).Msg("sealed file missing from spool; processing again")
		return p.q.Reprocess(dbctx, it.ID, "sealed file missing from spool")
	}
	if err != nil {
		return fmt.Errorf("agent: open spool: %w", pathless(err))
	}
	if p.sealedToOthers(f) {
		f.Close()
		const why = "sealed to other recipients"
		p.log.Info().Object("item", it).Str("reason", why).Msg("anonymising and sealing again before upload")
		if err := p.q.Reprocess(dbctx, it.ID, why); err != nil {
			return err
		}
		p.removeSpool(it)
		return nil
	}
	receipt, err := p.timedUpload(ctx, it, f)
	f.Close()
	p.noteUpload(ctx, err)
	if err != nil {
		return err
	}
	return p.uploaded(dbctx, it, receipt, false)
}

// uploaded records the receipt of it, sealed in memory or in the spool,
// and finishes it.
func (p *Pipeline) uploaded(dbctx context.Context, it *Item, receipt []byte, inMemory bool) error {
	if d, _ := p.disposition(it); d == Keep || d == "" {
		if inMemory {
			if err := p.q.MarkSentCommittedInMemory(dbctx, it.ID, receipt); err != nil {
				return err
			}
			p.committed(it)
			return nil
		}
		// Nothing to dispose of: sent and committed in one transaction.
		// The spool file goes only once that is durable (a crash in
		// between leaves it to removeSpoolTemps).
		if err := p.q.MarkSentCommitted(dbctx, it.ID, receipt); err != nil {
			return err
		}
		p.removeSpool(it)
		p.committed(it)
		return nil
	}
	// The source goes: sent is recorded durably before it does.
	if err := p.q.MarkSent(dbctx, it.ID, receipt); err != nil {
		return err
	}
	it.State, it.Receipt = StateSent, receipt
	return p.finish(dbctx, it)
}

// disposition returns the source disposition of it, and the move target.
func (p *Pipeline) disposition(it *Item) (Disposition, string) {
	d, moveTo := Keep, ""
	for _, w := range p.cfg.Watch {
		if it.Root != "" && w.Path == it.Root {
			d, moveTo = w.AfterCommit, w.MoveTo
		}
	}
	return d, moveTo
}

// removeSpool removes the spool file of it, if any.
func (p *Pipeline) removeSpool(it *Item) {
	if it.SpoolPath != "" {
		if err := os.Remove(it.SpoolPath); err != nil && !errors.Is(err, os.ErrNotExist) {
			p.log.Warn().Err(pathless(err)).Object("item", it).Msg("cannot remove spool file")
		}
	}
}

// committed counts and logs a committed item.
func (p *Pipeline) committed(it *Item) {
	p.metrics.file(resultCommitted)
	p.log.Info().Int64("id", it.ID).Str("file_id", it.FileID).Msg("committed")
}

// finish applies the source disposition of a sent item, removes its spool
// file and marks it committed. A disposition that fails is logged and not
// retried: the relay holds the file.
func (p *Pipeline) finish(ctx context.Context, it *Item) error {
	d, moveTo := p.disposition(it)
	if err := dispose(it, d, moveTo); err != nil {
		p.log.Warn().Err(err).Object("item", it).Msg("source disposition failed; source left in place")
	}
	p.removeSpool(it)
	if err := p.q.MarkCommitted(ctx, it.ID); err != nil {
		return err
	}
	p.committed(it)
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

// removeSpoolTemps deletes temporary spool files left by a crash, and the
// spool files of items a crash left committed (or quarantined) before
// their spool file was removed.
func (p *Pipeline) removeSpoolTemps(ctx context.Context) {
	temps, _ := filepath.Glob(filepath.Join(p.cfg.SpoolDir, ".*.sealed.tmp-*"))
	for _, t := range temps {
		os.Remove(t)
	}
	sealed, _ := filepath.Glob(filepath.Join(p.cfg.SpoolDir, "*.sealed"))
	for _, f := range sealed {
		id, err := strconv.ParseInt(strings.TrimSuffix(filepath.Base(f), ".sealed"), 10, 64)
		if err != nil {
			continue
		}
		if it, err := p.q.Get(ctx, id); err == nil && it.State.Final() {
			os.Remove(f)
		}
	}
}
