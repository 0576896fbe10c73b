package agent

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
)

// processInMemory is process for a source small enough to be sealed into
// memory (mf, reserved by the caller): the sealed file is held for the
// upload stage and the item marked sealed with no spool path, without an
// fsync. Nothing is written to the spool folder unless the upload fails
// (see uploadInMemory).
func (p *Pipeline) processInMemory(ctx context.Context, it *Item, src io.Reader, mf *memFile) error {
	br := p.bufs.reader(src)
	res, err := p.proc.Process(ctx, it, br, mf)
	p.bufs.putReader(br)
	if err == nil && res == nil {
		err = errors.New("agent: processor returned no result")
	}
	if err != nil {
		p.mem.free(mf)
		return err
	}
	n := int64(len(mf.buf))
	if res.Size == 0 {
		res.Size = n
	}
	if res.SHA256 == nil {
		s := sha256.Sum256(mf.buf)
		res.SHA256 = s[:]
	}
	if res.Size != n {
		p.mem.free(mf)
		return Permanent("sealed file size differs from the processor's result", nil)
	}
	// Held before the transition: once the item is sealed, the upload
	// stage may claim it at once.
	p.mem.hold(it.ID, mf)
	if err := p.q.MarkProcessedInMemory(context.WithoutCancel(ctx), it.ID, res); err != nil {
		p.mem.free(p.mem.take(it.ID))
		return err
	}
	p.mem.markSealed(it.ID)
	p.log.Debug().Int64("id", it.ID).Msg("sealed in memory")
	return nil
}

// uploadInMemory uploads a sealed item that has no spool file: its sealed
// file is in memory, or was lost with a process that stopped, in which
// case the item is processed again (the same anonymised content gets the
// same file id, which the relay recognises).
//
// When the upload fails and will be retried, the sealed file is first
// written to the spool (durably) so that the retry resumes from the
// relay's offset with the same bytes; memory holds a file only while its
// first upload runs.
func (p *Pipeline) uploadInMemory(ctx context.Context, it *Item) error {
	dbctx := context.WithoutCancel(ctx)
	mf := p.mem.take(it.ID)
	if mf == nil {
		// Written to the spool since it was claimed (uploads began to
		// fail: wait for that to end), or lost with a process that
		// stopped.
		p.spilling.Lock()
		p.spilling.Unlock() //nolint:staticcheck // a barrier: waits for keepHeld
		if cur, err := p.q.Get(dbctx, it.ID); err == nil && cur.State == StateSealed && cur.SpoolPath != "" {
			it.SpoolPath = cur.SpoolPath
			return p.upload(ctx, it)
		}
		p.log.Debug().Object("item", it).Msg("sealed file no longer in memory; processing again")
		return p.q.Reprocess(dbctx, it.ID, "sealed file no longer in memory")
	}
	defer p.mem.free(mf)
	receipt, err := p.timedUpload(ctx, it, bytes.NewReader(mf.buf))
	p.noteUpload(ctx, err)
	if err != nil {
		// Retried (or resumed after a stop): kept for a resume, unless
		// the relay refused the file for good.
		var perm *PermanentError
		if !errors.As(err, &perm) {
			p.keep(dbctx, it, mf)
		}
		return err
	}
	return p.uploaded(dbctx, it, receipt, true)
}

// noteUpload records whether uploads go through. When they begin to fail
// (a retryable error), files are sealed into the spool folder from then
// on, and those waiting in memory for an upload are written there at
// once, until an upload succeeds again.
func (p *Pipeline) noteUpload(ctx context.Context, err error) {
	var perm *PermanentError
	switch {
	case err == nil:
		p.uploadsFailing.Store(false)
	case ctx.Err() != nil || errors.As(err, &perm):
	case !p.uploadsFailing.Swap(true):
		p.log.Debug().Msg("uploads failing: sealing into the spool folder")
		p.keepHeld(context.WithoutCancel(ctx))
	}
}

// keep spills mf, the sealed file of it, to the spool; a failure is
// logged: the item will be processed again.
func (p *Pipeline) keep(ctx context.Context, it *Item, mf *memFile) {
	if err := p.spill(ctx, it, mf); err != nil {
		p.log.Warn().Err(err).Object("item", it).Msg("cannot keep the sealed file for a resume; it will be sealed again")
	}
}

// keepHeld spills the sealed files still held in memory for items the
// upload stage did not claim before the pipeline stopped, so that the
// next run uploads them without processing them again.
func (p *Pipeline) keepHeld(ctx context.Context) {
	p.spilling.Lock()
	defer p.spilling.Unlock()
	for id, mf := range p.mem.takeSealed() {
		p.keep(ctx, &Item{ID: id}, mf)
		p.mem.free(mf)
	}
}

// spill writes the in-memory sealed file of a claimed sealed item to the
// spool (fsynced, renamed, folder fsynced) and records its path.
func (p *Pipeline) spill(ctx context.Context, it *Item, mf *memFile) error {
	sw, err := newSpoolWriter(p.cfg.SpoolDir, it.ID, &p.bufs)
	if err != nil {
		return err
	}
	if _, err := sw.Write(mf.buf); err != nil {
		sw.abort()
		return err
	}
	if err := sw.sync(); err != nil {
		sw.abort()
		return err
	}
	dst := spoolPath(p.cfg.SpoolDir, it.ID)
	if err := sw.commit(dst); err != nil {
		return err
	}
	if err := p.q.SetSpoolPath(ctx, it.ID, dst); err != nil {
		return err
	}
	it.SpoolPath = dst
	return nil
}
