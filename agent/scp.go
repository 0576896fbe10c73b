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
// storage. An instance of up to 4 MiB is received into memory and
// appended with one direct write to the intake journal, a set of
// preallocated segments, whose fdatasync is shared by the instances that
// associations finish at the same time; meanwhile its item is queued with
// the journal record as source, from which the pipeline reads it.
// Checkpoints make the items durable in the background; segments are
// reused once their items are committed, and deleted when more are free
// than intake needs; after a crash or power cut, the
// start-up replays the journal (agent/doc.go, DICOM network intake).
// Larger instances, and instances arriving while every segment is in use,
// are written to their file, fsynced, renamed, the folder fsynced and
// then queued durably.
//
// Any failure answers 0xA700 (out of resources) and leaves nothing behind,
// so the sender keeps its copy and may retry. The journal records and
// received files are the agent's own copies: a received file is deleted
// once the relay has committed its item, a segment reused.
type SCP struct {
	log zerolog.Logger
	q   *Queue
	cfg DICOMConfig
	dir string
	srv *dimse.Server

	segmentSize  int64         // of a new intake journal segment
	segmentLimit int           // segments at most
	segmentIdle  time.Duration // a surplus free segment is deleted after this long unused
	upkeep       time.Duration // period of the segment upkeep
	pool         chunkPool
	j            *intakeJournal // open from prepare until Serve returns
}

// NewSCP returns an SCP configured by cfg (with defaults applied by
// [DICOMConfig.SetDefaults]) that writes received instances into dir and
// queues them in q. Nothing is opened until [SCP.Run] or [SCP.Serve].
func NewSCP(log zerolog.Logger, q *Queue, cfg DICOMConfig, dir string) *SCP {
	cfg.SetDefaults()
	s := &SCP{log: log, q: q, cfg: cfg, dir: dir, segmentSize: defaultSegmentSize,
		segmentLimit: maxSegments, segmentIdle: shrinkAfter, upkeep: upkeepEvery}
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
	wg.Go(func() { s.keepSegments(stop) })
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
// journal (instances a crash left without a durable item), frees the
// segments no item needs and makes sure one is ready, then queues the
// complete instance files an earlier run left unqueued (a crash between
// the rename and the queue insert of a large instance) and removes
// partial ones. The agent calls it before starting the pipeline; Serve
// calls it if nobody did.
func (s *SCP) prepare(ctx context.Context) error {
	if s.j != nil {
		return nil
	}
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return fmt.Errorf("agent: dicom: received folder: %w", pathless(err))
	}
	j, err := openJournal(journalDir(s.dir), s.segmentSize)
	if err != nil {
		return err
	}
	s.j = j
	err = s.replayJournal(ctx)
	if err == nil {
		err = s.reclaim(ctx)
	}
	if err == nil {
		if free, all := s.j.spares(); free == 0 && all < s.segmentLimit {
			err = s.j.grow()
		}
	}
	if err == nil {
		err = s.recoverReceived(ctx)
	}
	if err != nil {
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
	c := &chunks{pool: &s.pool}
	defer c.release()
	c.Write(meta)
	limit := min(maxJournalled, s.j.maxPayload())
	whole, err := c.fill(r, limit)
	if err != nil {
		return fmt.Errorf("agent: dicom: receive: %w", err)
	}
	if whole && c.n <= limit {
		err := s.storeJournalled(ctx, req, c)
		if !errors.Is(err, errNoSegment) {
			return err
		}
		// Every segment is in use (items waiting for the relay): the
		// instance gets a file of its own.
		s.log.Debug().Msg("dicom: no free intake journal segment; instance written to a file")
		return s.storeDirect(ctx, req, c.reader())
	}
	if whole {
		return s.storeDirect(ctx, req, c.reader())
	}
	return s.storeDirect(ctx, req, io.MultiReader(c.reader(), r))
}

// storeDirect stores an instance too large for the journal (or arriving
// while no segment is free): its own durable file, then a durable queue
// insert.
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
