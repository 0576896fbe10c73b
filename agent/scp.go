package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"dicomgate/dimse"
)

// SCP is the agent's DICOM storage SCP: it accepts associations (every
// storage SOP class, in the transfer syntaxes of
// [dimse.SupportedTransferSyntaxes], and Verification), answers C-ECHO and
// puts each C-STORE instance into the [Queue], the same queue as files from
// watched folders.
//
// The C-STORE response is sent with success only once the instance is
// durably queued: its item is in the queue and its bytes are on stable
// storage. An instance of up to 4 MiB is received into memory and written
// with one direct write into the intake journal, whose fdatasync is shared
// by the instances that associations finish at the same time; meanwhile it
// is written as a Part 10 file into its folder, renamed into place once
// the journal record is durable, and queued. Checkpoints make file and
// item durable in the background and free the journal; after a crash or
// power cut, the start-up replays the journal (agent/doc.go, DICOM network
// intake). Larger instances are written to their file, fsynced, renamed,
// the folder fsynced and then queued durably.
//
// Any failure answers 0xA700 (out of resources) and leaves nothing behind,
// so the sender keeps its copy and may retry. The received files are the
// agent's own copies: the pipeline deletes each one once the relay has
// committed it.
type SCP struct {
	log zerolog.Logger
	q   *Queue
	cfg DICOMConfig
	dir string
	srv *dimse.Server

	journalSize int64         // of a new intake journal
	reserveWait time.Duration // bound on the wait for journal space
	pool        chunkPool
	spares      chan spareFile // temporary files created ahead
	j           *intakeJournal // open from prepare until Serve returns
	ckErr       error          // a checkpoint's sticky failure; checkpoint goroutine only
}

// NewSCP returns an SCP configured by cfg (with defaults applied by
// [DICOMConfig.SetDefaults]) that writes received instances into dir and
// queues them in q. Nothing is opened until [SCP.Run] or [SCP.Serve].
func NewSCP(log zerolog.Logger, q *Queue, cfg DICOMConfig, dir string) *SCP {
	cfg.SetDefaults()
	s := &SCP{log: log, q: q, cfg: cfg, dir: dir, journalSize: defaultJournalSize, reserveWait: defaultReserveWait,
		spares: make(chan spareFile, spareFiles)}
	s.srv = &dimse.Server{AETitle: cfg.AETitle, Addr: cfg.Listen,
		AllowedCallingAEs: append([]string(nil), cfg.AllowedCallingAEs...), Logger: log, Handler: s}
	return s
}

// Run listens on cfg.Listen and serves associations until ctx is
// cancelled, then returns nil once the live associations have ended. It
// returns an error at once if it cannot listen.
func (s *SCP) Run(ctx context.Context) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.cfg.Listen)
	if err != nil {
		if s.j != nil {
			s.j.close()
			s.j = nil
		}
		return fmt.Errorf("agent: dicom: listen: %w", err)
	}
	return s.Serve(ctx, ln)
}

// Serve is Run on an existing listener, which it closes. Before serving it
// recovers what an earlier run left (see prepare).
func (s *SCP) Serve(ctx context.Context, ln net.Listener) error {
	if err := s.prepare(ctx); err != nil {
		_ = ln.Close()
		return err
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { s.checkpoints(stop) })
	wg.Go(func() { s.makeSpares(stop) })
	err := s.srv.ServeListener(ctx, ln)
	close(stop)
	wg.Wait()
	jerr := s.j.close()
	if errors.Is(err, dimse.ErrServerClosed) {
		err = nil
	}
	if err != nil {
		return fmt.Errorf("agent: dicom: %w", err)
	}
	return jerr
}

// prepare opens the received folder and the intake journal, replays the
// journal (instances a crash left without a durable file or item) and
// then queues the complete instances an earlier run left unqueued (a
// crash between the rename and the queue insert of a large instance) and
// removes partial ones. The agent calls it before starting the pipeline;
// Serve calls it if nobody did.
func (s *SCP) prepare(ctx context.Context) error {
	if s.j != nil {
		return nil
	}
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return fmt.Errorf("agent: dicom: received folder: %w", pathless(err))
	}
	j, err := openJournal(journalPath(s.dir), s.journalSize)
	if err != nil {
		return err
	}
	s.j = j
	if err := s.removeSpares(); err != nil {
		s.j.close()
		s.j = nil
		return err
	}
	if err := s.replayJournal(ctx); err != nil {
		s.j.close()
		s.j = nil
		return err
	}
	if err := s.recoverReceived(ctx); err != nil {
		s.j.close()
		s.j = nil
		return err
	}
	return nil
}

// Addr returns the address the SCP listens on, or nil before it listens.
func (s *SCP) Addr() net.Addr { return s.srv.ListenAddr() }

// Close stops the SCP, aborting the live associations.
func (s *SCP) Close() error { return s.srv.Close() }

// Store implements [dimse.Handler]: it makes the instance durable, queues
// it and returns nil only once both are done.
func (s *SCP) Store(ctx context.Context, req dimse.StoreRequest, r io.Reader) error {
	meta, err := dimse.Part10Header(req)
	if err != nil {
		return fmt.Errorf("agent: dicom: %w", err)
	}
	sp, err := s.takeSpare()
	if err != nil {
		return err
	}
	name, f := sp.name, sp.f
	c := &chunks{pool: &s.pool}
	defer c.release()
	c.Write(meta)
	whole, err := c.fill(r, min(maxJournalled, s.j.maxPayload()))
	if err != nil {
		discardTemp(f)
		return fmt.Errorf("agent: dicom: receive: %w", err)
	}
	if whole {
		return s.storeJournalled(ctx, req, name, f, c)
	}
	discardTemp(f)
	return s.storeDirect(ctx, req, io.MultiReader(c.reader(), r))
}

// storeDirect stores an instance too large for the journal: its own
// durable file, then a durable queue insert.
func (s *SCP) storeDirect(ctx context.Context, req dimse.StoreRequest, part10 io.Reader) error {
	src, err := writeReceived(s.dir, part10)
	if err != nil {
		return err
	}
	// The instance is complete: record it even if the association ends
	// now, so a success is never lost between commit and response.
	id, _, err := s.q.Add(context.WithoutCancel(ctx), src)
	if err != nil {
		// Not queued: drop our copy, the sender sees the failure and
		// keeps its own.
		if rerr := os.Remove(src.Path); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			s.log.Warn().Err(pathless(rerr)).Msg("dicom: cannot remove an instance that was not queued")
		}
		return fmt.Errorf("agent: dicom: %w", err)
	}
	s.log.Info().Int64("id", id).Msg("queued")
	s.log.Debug().Int64("id", id).Object("request", req).Msg("dicom: instance queued")
	return nil
}

var _ dimse.Handler = (*SCP)(nil)
