package agent

import (
	"context"
	"fmt"
	"time"
)

// SendProgress is the state of a running [Agent.Send]. Counts are of items
// that reached a final state since Send started, so items left pending by
// an earlier, interrupted send count too.
type SendProgress struct {
	// Queued is the number of files newly queued by this send.
	Queued int
	// Total is the number of items to finish: the new ones plus those
	// already pending.
	Total int
	// Committed and Quarantined count the items finished so far.
	Committed, Quarantined int
	// Pending is the number of items not finished yet.
	Pending int
	// Elapsed is the time since Send started.
	Elapsed time.Duration
}

// Send is the one-off `dicomgate send`: it queues every file at or below
// paths, then runs the pipeline until nothing is pending (every item
// committed or quarantined) and returns the final counts. progress, if not
// nil, is called about twice a second and once at the end.
//
// Files already queued (same path, size and time) are not queued again.
// If the agent service holds the queue, Send fails with [ErrAgentRunning].
// If ctx is cancelled, the items left stay queued for the next run and the
// error wraps ctx's.
func (a *Agent) Send(ctx context.Context, paths []string, progress func(SendProgress)) (SendProgress, error) {
	start := time.Now()
	q, err := a.openQueue(ctx)
	if err != nil {
		return SendProgress{}, err
	}
	defer q.Close()
	defer a.up.Close()
	before, err := q.Counts(ctx)
	if err != nil {
		return SendProgress{}, err
	}
	pendingBefore, err := q.Pending(ctx)
	if err != nil {
		return SendProgress{}, err
	}
	in := NewIntake(a.log, q, nil)
	var p SendProgress
	for i, path := range paths {
		ids, err := in.Enqueue(ctx, path)
		p.Queued += len(ids)
		if err != nil {
			return p, fmt.Errorf("agent: send: argument %d: %w", i+1, err)
		}
	}
	p.Total = p.Queued + pendingBefore
	a.log.Info().Int("queued", p.Queued).Int("pending", p.Total).Str("policy_id", a.policy.ID()).
		Int("policy_version", a.policy.Version()).Str("relay", a.cfg.Relay.Address).Msg("sending")

	pctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.pipeline(q).Run(pctx)
	}()
	defer func() { stop(); <-done }()

	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		dbctx := context.WithoutCancel(ctx)
		counts, err := q.Counts(dbctx)
		if err != nil {
			return p, err
		}
		pending, err := q.Pending(dbctx)
		if err != nil {
			return p, err
		}
		p.Committed = counts[StateCommitted] - before[StateCommitted]
		p.Quarantined = counts[StateQuarantined] - before[StateQuarantined]
		p.Pending, p.Elapsed = pending, time.Since(start)
		if progress != nil {
			progress(p)
		}
		if pending == 0 {
			return p, nil
		}
		if ctx.Err() != nil {
			return p, fmt.Errorf("agent: send interrupted, %d files stay queued for the next run: %w", pending, ctx.Err())
		}
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
	}
}
