package agent

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"dicomgate/policy"
	"dicomgate/seal"
	"dicomgate/transport"
)

// ErrAgentRunning reports that the queue is locked by another process,
// normally the agent service: a one-off send must go through it instead.
var ErrAgentRunning = errors.New("agent: the queue is in use by the running agent service: " +
	"stop it first, or copy the files into one of its watched folders")

// Agent is the site agent service: intake (watched folders and the DICOM
// [SCP]), the durable queue and the pipeline with the real
// [SealProcessor] and [RelayUploader].
type Agent struct {
	log    zerolog.Logger
	cfg    Config        // Watch also lists the SCP's received folder, for its disposition
	watch  []WatchConfig // the configured watched folders
	policy *policy.Policy
	id     *Identity
	proc   *SealProcessor
	up     *RelayUploader
	// recipients are the fingerprints of the keys files are sealed to.
	recipients []string
	mon        monitor // metrics_listen endpoint (metrics_server.go)

	now   func() time.Time // WithClock; default time.Now
	certs *certHolder      // the current certificate (renew.go)
}

// New prepares an agent from cfg (as returned by [Load]): it loads the
// policy (the built-in Basic Profile when cfg names none) and the site
// secret (creating the secret file on first use), the identity written by
// [Enroll] and the recipients. Nothing is opened until [Agent.Run] or
// [Agent.Send].
func New(cfg *Config, log zerolog.Logger, opts ...Option) (*Agent, error) {
	a := &Agent{log: log, now: time.Now}
	for _, o := range opts {
		o(a)
	}
	c := *cfg
	c.SetDefaults()
	pol, err := loadPolicy(c.Policy)
	if err != nil {
		return nil, err
	}
	secret, err := loadSecret(&c, log)
	if err != nil {
		return nil, err
	}
	id, err := LoadIdentity(c.IdentityDir)
	if err != nil {
		return nil, err
	}
	recips, err := loadRecipients(c.Recipients, pol.Recipients())
	if err != nil {
		return nil, err
	}
	var receiptKey ed25519.PublicKey
	if c.Relay.ReceiptKey != "" {
		data, err := os.ReadFile(c.Relay.ReceiptKey)
		if err != nil {
			return nil, fmt.Errorf("agent: relay.receipt_key: %w", pathless(err))
		}
		if receiptKey, err = seal.ParseVerifyingKey(data); err != nil {
			return nil, fmt.Errorf("agent: relay.receipt_key: %w", err)
		}
	}
	proc, err := NewProcessor(ProcessorConfig{Project: c.Project, Site: c.Site, AgentID: id.AgentID,
		Policy: pol, Secret: secret, Recipients: recips, SigningKey: id.Key, Now: a.now})
	if err != nil {
		return nil, err
	}
	wg, relayAddr, err := c.tunnel(id)
	if err != nil {
		return nil, err
	}
	if wg == nil && id.WireGuard != nil {
		log.Warn().Msg("the identity holds a wireguard tunnel grant but agent.yaml has no wireguard section: " +
			"uploading on the host network, which a relay serving uploads in its tunnel only refuses")
	}
	certs := newCertHolder(id)
	up := NewRelayUploader(log, transport.ClientConfig{
		Addr:           relayAddr,
		GetCertificate: certs.get,
		Time:           a.now,
		RootCAs:        id.CAPool(),
		ReceiptKey:     receiptKey,
		Mode:           transport.Mode(c.Relay.Mode),
		Logger:         log,
		WireGuard:      wg,
	})
	// Instances received by C-STORE are the agent's own copies: the
	// pipeline deletes them once committed, as for a "delete" watch.
	watches := c.Watch
	c.Watch = append(append([]WatchConfig(nil), watches...),
		WatchConfig{Path: receivedDir(c.SpoolDir), AfterCommit: Delete})
	a.cfg, a.watch, a.policy, a.id, a.proc, a.up, a.certs = c, watches, pol, id, proc, up, certs
	for _, r := range recips {
		a.recipients = append(a.recipients, r.Fingerprint())
	}
	return a, nil
}

// loadSecret returns the inline secret (hex) or the secret file's,
// creating the file if it does not exist.
func loadSecret(c *Config, log zerolog.Logger) ([]byte, error) {
	if c.Secret != "" {
		s, err := hex.DecodeString(strings.TrimSpace(c.Secret.Reveal()))
		if err != nil || len(s) < 16 {
			return nil, errors.New("agent: secret: not a hex secret of at least 16 bytes")
		}
		return s, nil
	}
	s, created, err := policy.LoadOrCreateSecret(c.SecretFile)
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	if created {
		log.Warn().Str("secret_file", c.SecretFile).Msg("created a new site secret: back it up, pseudonyms depend on it")
	}
	return s, nil
}

// AgentID returns the enrolled agent's ID.
func (a *Agent) AgentID() string { return a.id.AgentID }

// Run serves until ctx is cancelled: it watches the configured folders,
// serves the DICOM [SCP] when dicom.listen is set and runs the pipeline,
// then stops gracefully (items in progress finish their step or are
// released, resumable by the next run) and returns nil. It
// fails at once if the queue is in use ([ErrAgentRunning]), a folder
// cannot be watched or the SCP cannot listen.
func (a *Agent) Run(ctx context.Context) error {
	q, err := a.openQueue(ctx)
	if err != nil {
		return err
	}
	defer q.Close()
	defer a.up.Close()
	a.logStart()
	if w := transport.UDPBufferWarning(); w != "" {
		a.log.Warn().Msg(w)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg                sync.WaitGroup
		intakeErr, scpErr error
	)
	p := a.pipeline(q)
	var scp *SCP
	if a.cfg.DICOM.Listen != "" {
		// Instances a crash left in the intake journal are back in the
		// queue before the pipeline looks at it.
		scp = NewSCP(a.log, q, a.cfg.DICOM, receivedDir(a.cfg.SpoolDir))
		if err := scp.prepare(ctx); err != nil {
			return err
		}
	}
	in := NewIntake(a.log, q, a.watch)
	in.SetPipeline(p)
	wg.Go(func() {
		if intakeErr = in.Run(ctx); intakeErr != nil {
			cancel()
		}
	})
	if scp != nil {
		wg.Go(func() {
			if scpErr = scp.Run(ctx); scpErr != nil {
				cancel()
			}
		})
	}
	metrics, stopMonitor, err := a.startMonitor(ctx, q)
	if err != nil {
		cancel()
		wg.Wait()
		return err
	}
	defer stopMonitor()
	if a.cfg.Relay.API != "" {
		rv := newReviewer(a.log, q, a.id, a.certs, a.cfg.Relay.API, receivedDir(a.cfg.SpoolDir), a.cfg.stuckAfter())
		rv.alarm = p.alarm
		wg.Go(func() { rv.Run(ctx) })
	}
	rn := &renewer{log: a.log, dir: a.cfg.IdentityDir, key: a.id.Key, certs: a.certs, up: a.up,
		before: a.cfg.Relay.RenewBefore, now: a.now}
	wg.Go(func() { rn.Run(ctx) })
	wg.Go(func() { a.pruneQueue(ctx, q) })
	p.SetMetrics(metrics)
	p.Run(ctx)
	wg.Wait()
	a.log.Info().Msg("agent stopped")
	return errors.Join(intakeErr, scpErr)
}

// logStart logs what the agent runs with; no secret, no path.
func (a *Agent) logStart() {
	a.log.Info().
		Str("site", a.cfg.Site).Str("project", a.cfg.Project).Str("agent_id", a.id.AgentID).
		Str("policy_id", a.policy.ID()).Int("policy_version", a.policy.Version()).
		Str("policy_hash", a.policy.Hash()).Int("recipients", len(a.recipients)).
		Str("relay", a.cfg.Relay.Address).Str("relay_mode", a.cfg.Relay.Mode).
		Int("watches", len(a.watch)).Str("dicom_listen", a.cfg.DICOM.Listen).Msg("agent started")
	if leaf := a.certs.current(); a.now().After(leaf.NotAfter) {
		a.log.Error().Time("not_after", leaf.NotAfter).
			Msg("agent certificate expired by this machine's clock: re-enrol the agent (dicomgate agent enroll --force) with a new token, or correct the clock")
	}
	if a.id.RelayAddress != "" && a.id.RelayAddress != a.cfg.Relay.Address {
		a.log.Warn().Str("enrolled_with", a.id.RelayAddress).Str("relay", a.cfg.Relay.Address).
			Msg("relay address differs from the one the agent enrolled with")
	}
}

// pipeline returns the pipeline of q for Run and Send, which seals again
// the files sealed under a key this agent no longer has, under another
// policy than the one it applies or to other recipients.
func (a *Agent) pipeline(q *Queue) *Pipeline {
	p := NewPipeline(a.log, &a.cfg, q, a.proc, a.up)
	p.SetSigner(a.id.Key.Public().(ed25519.PublicKey))
	p.SetPolicy(a.policy.Hash())
	p.SetRecipients(a.recipients)
	return p
}

func (a *Agent) openQueue(ctx context.Context) (*Queue, error) {
	q, err := OpenQueue(ctx, a.log, a.cfg.QueueDB)
	if errors.Is(err, ErrQueueLocked) {
		return nil, ErrAgentRunning
	}
	return q, err
}
