package agent

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"dicomgate/transport"
)

// reviewEvery is how often the agent reports quarantines and polls the
// relay's decisions.
const reviewEvery = 30 * time.Second

// reviewer reports quarantined items to the relay's HTTPS API and applies
// the requeue and discard decisions taken there (best effort: what fails
// is tried again at the next round).
type reviewer struct {
	log      zerolog.Logger
	q        *Queue
	http     *http.Client
	base     string // the relay API's base URL
	received string // the SCP's received folder: its copies are deleted on discard
	// stuckAfter is the threshold of the queue status sent to the relay.
	stuckAfter time.Duration
	// alarm says whether the agent's disk is full; a change is reported
	// at once (nil: never full).
	alarm *storageAlarm
}

// newReviewer returns a reviewer calling base with the agent's current
// certificate (certs); the queue counts as stuck in its status reports
// after stuckAfter.
func newReviewer(log zerolog.Logger, q *Queue, id *Identity, certs *certHolder, base, received string, stuckAfter time.Duration) *reviewer {
	tr := &http.Transport{TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: id.CAPool(),
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return certs.get() }}}
	return &reviewer{log: log, q: q, http: &http.Client{Transport: tr, Timeout: 20 * time.Second},
		base: strings.TrimSuffix(base, "/"), received: received, stuckAfter: stuckAfter}
}

// Run does a round at once, every reviewEvery, and sends the queue status
// at once when the agent's disk fills up or has room again, until ctx
// ends.
func (r *reviewer) Run(ctx context.Context) {
	t := time.NewTicker(reviewEvery)
	defer t.Stop()
	for {
		full := r.alarm.changes()
		r.round(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-full:
		}
	}
}

// round reports quarantines and queue status, then polls, logging
// failures.
func (r *reviewer) round(ctx context.Context) {
	if err := r.report(ctx); err != nil && ctx.Err() == nil {
		r.log.Warn().Err(err).Msg("quarantine report failed; retrying later")
	}
	if err := r.sendStatus(ctx); err != nil && ctx.Err() == nil {
		r.log.Warn().Err(err).Msg("queue status report failed; retrying later")
	}
	if err := r.poll(ctx); err != nil && ctx.Err() == nil {
		r.log.Warn().Err(err).Msg("quarantine decisions poll failed; retrying later")
	}
}

// report sends the quarantined items not yet reported.
func (r *reviewer) report(ctx context.Context) error {
	items, err := r.q.Unreported(ctx, 500)
	if err != nil || len(items) == 0 {
		return err
	}
	reports := make([]transport.QuarantineReport, len(items))
	ids := make([]int64, len(items))
	for i, it := range items {
		reports[i] = transport.QuarantineReport{Item: it.ID, Reason: it.Reason, At: it.UpdatedAt.UTC()}
		ids[i] = it.ID
	}
	body, err := json.Marshal(reports)
	if err != nil {
		return fmt.Errorf("agent: quarantine report: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.base+transport.QuarantinePath, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("agent: quarantine report: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	if err := r.do(req, nil); err != nil {
		return fmt.Errorf("agent: quarantine report: %w", err)
	}
	return r.q.MarkReported(ctx, ids...)
}

// agentStatus returns the queue's status in the shape the relay takes.
func (r *reviewer) agentStatus(ctx context.Context) (transport.AgentStatus, error) {
	st, err := readQueueStatus(ctx, r.q, r.stuckAfter)
	if err != nil {
		return transport.AgentStatus{}, err
	}
	counts := make(map[string]int, len(st.Items))
	for s, n := range st.Items {
		counts[string(s)] = n
	}
	return transport.AgentStatus{Counts: counts, OldestWaitingSeconds: st.OldestWaitingSeconds,
		Stuck: st.Stuck, StorageFull: r.alarm.full(diskAgent), At: time.Now().UTC()}, nil
}

// sendStatus posts the queue's status to the relay.
func (r *reviewer) sendStatus(ctx context.Context) error {
	st, err := r.agentStatus(ctx)
	if err != nil {
		return err
	}
	body, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("agent: queue status: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.base+transport.AgentStatusPath, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("agent: queue status: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	if err := r.do(req, nil); err != nil {
		return fmt.Errorf("agent: queue status: %w", err)
	}
	return nil
}

// poll applies the decisions after the stored cursor, then advances it.
func (r *reviewer) poll(ctx context.Context) error {
	after, err := r.q.Cursor(ctx, commandsCursor, -1)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet,
		r.base+transport.CommandsPath+"?after="+strconv.FormatInt(after, 10), nil)
	if err != nil {
		return fmt.Errorf("agent: quarantine decisions: %w", err)
	}
	var cmds transport.QuarantineCommands
	if err := r.do(req, &cmds); err != nil {
		return fmt.Errorf("agent: quarantine decisions: %w", err)
	}
	for _, c := range cmds.Commands {
		r.apply(ctx, c)
	}
	if cmds.Next > after {
		return r.q.SetCursor(ctx, commandsCursor, cmds.Next)
	}
	return nil
}

// apply carries out one decision; one that no longer applies (the item is
// not quarantined any more) is logged and skipped.
func (r *reviewer) apply(ctx context.Context, c transport.QuarantineCommand) {
	log := r.log.With().Int64("item", c.Item).Str("decision", c.Action).Str("by", c.By).Logger()
	switch c.Action {
	case transport.CommandRequeue:
		if err := r.q.Requeue(ctx, c.Item); err != nil {
			log.Warn().Err(err).Msg("quarantine decision not applied")
			return
		}
	case transport.CommandDiscard:
		it, err := r.q.Discard(ctx, c.Item, c.By)
		if err != nil {
			log.Warn().Err(err).Msg("quarantine decision not applied")
			return
		}
		// A C-STORE instance is the agent's own copy: delete it. Files of
		// watched folders belong to the site and stay.
		if r.received != "" && it.Root == r.received {
			if err := os.Remove(it.SourcePath); err != nil && !os.IsNotExist(err) {
				log.Warn().Err(pathless(err)).Msg("cannot delete the discarded received instance")
			}
		}
	default:
		log.Warn().Msg("unknown quarantine decision")
		return
	}
	log.Info().Msg("quarantine decision applied")
}

// do sends req and decodes a JSON answer into v (if not nil); a status
// other than 2xx is an error.
func (r *reviewer) do(req *http.Request, v any) error {
	resp, err := r.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("relay answered %s", resp.Status)
	}
	if v == nil {
		return nil
	}
	return json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(v)
}
