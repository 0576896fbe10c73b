package agent

import (
	"context"
	"errors"
	"io"
	"time"

	"dicomgate/transport"
)

// SetMetrics makes p count its uploads, commits, retries and quarantines
// in m, and show full disks there (nil: none). Call it before
// [Pipeline.Run].
func (p *Pipeline) SetMetrics(m *Metrics) {
	p.metrics = m
	p.alarm.setMetrics(m)
}

// timedUpload is p.up.Upload, measured: duration and bytes of a receipted
// upload, and whether the relay answered at all.
func (p *Pipeline) timedUpload(ctx context.Context, it *Item, f io.ReaderAt) ([]byte, error) {
	start := time.Now()
	receipt, err := p.up.Upload(ctx, it, f)
	if ctx.Err() == nil || err == nil {
		var rej *transport.RejectedError
		reached := err == nil || errors.As(err, &rej)
		p.metrics.uploaded(it.Size, time.Since(start), err == nil, reached)
	}
	return receipt, err
}

// countFailure counts the outcome [Pipeline.fail] gives err: a quarantine
// for a permanent error, a retry for any other unless ctx was cancelled.
func (p *Pipeline) countFailure(ctx context.Context, err error) {
	var perm *PermanentError
	switch {
	case errors.As(err, &perm):
		p.metrics.file(resultQuarantined)
	case ctx.Err() == nil:
		p.metrics.file(resultRetried)
	}
}
