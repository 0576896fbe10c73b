package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"

	"github.com/rs/zerolog"

	"dicomgate/dimse"
)

// SCP is the agent's DICOM storage SCP: it accepts associations (every
// storage SOP class, in the transfer syntaxes of
// [dimse.SupportedTransferSyntaxes], and Verification), answers C-ECHO and
// puts each C-STORE instance into the [Queue], the same queue as files from
// watched folders.
//
// An instance is written as a Part 10 file into its folder (temporary name,
// fsync, rename, fsync of the folder) and then added to the queue; only
// then is the C-STORE response sent with success. Any failure answers
// 0xA700 (out of resources) and leaves nothing behind, so the sender keeps
// its copy and may retry. The received files are the agent's own copies:
// the pipeline deletes each one once the relay has committed it.
type SCP struct {
	log zerolog.Logger
	q   *Queue
	cfg DICOMConfig
	dir string
	srv *dimse.Server
}

// NewSCP returns an SCP configured by cfg (with defaults applied by
// [DICOMConfig.SetDefaults]) that writes received instances into dir and
// queues them in q. Nothing is opened until [SCP.Run] or [SCP.Serve].
func NewSCP(log zerolog.Logger, q *Queue, cfg DICOMConfig, dir string) *SCP {
	cfg.SetDefaults()
	s := &SCP{log: log, q: q, cfg: cfg, dir: dir}
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
		return fmt.Errorf("agent: dicom: listen: %w", err)
	}
	return s.Serve(ctx, ln)
}

// Serve is Run on an existing listener, which it closes. Before serving it
// queues the complete instances an earlier run left unqueued (a crash
// between the rename and the queue insert) and removes partial ones.
func (s *SCP) Serve(ctx context.Context, ln net.Listener) error {
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		_ = ln.Close()
		return fmt.Errorf("agent: dicom: received folder: %w", pathless(err))
	}
	if err := s.recoverReceived(ctx); err != nil {
		_ = ln.Close()
		return err
	}
	err := s.srv.ServeListener(ctx, ln)
	if errors.Is(err, dimse.ErrServerClosed) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("agent: dicom: %w", err)
	}
	return nil
}

// Addr returns the address the SCP listens on, or nil before it listens.
func (s *SCP) Addr() net.Addr { return s.srv.ListenAddr() }

// Close stops the SCP, aborting the live associations.
func (s *SCP) Close() error { return s.srv.Close() }

// Store implements [dimse.Handler]: it writes the instance durably, queues
// it and returns nil only once both are done.
func (s *SCP) Store(ctx context.Context, req dimse.StoreRequest, r io.Reader) error {
	src, err := writeReceived(s.dir, req, r)
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
