package relay

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"

	"dicomgate/store"
	"dicomgate/transport"
)

// writeMemory is Write for an upload sent whole and held in memory (u).
// It touches the staging folder only when the stream is cut, when what
// arrived is written to the staging file at path and fsynced for the
// agent to resume from, as writeStaged keeps it, and when the commit
// fails, when the complete file is kept there for the retry to commit.
func (s *Server) writeMemory(ctx context.Context, peer transport.Peer, c *checkedOffer, path string, u *memUpload, r io.Reader) (*transport.Receipt, error) {
	offer := c.offer
	s.mon.received(heldMemory)
	hs := sha256.New()
	if rerr := u.receive(r, hs, s.progress(offer.ID, 0)); rerr != nil {
		if err := u.writeFile(path, true); err != nil {
			if store.IsFull(err) {
				// Nothing of it is kept: the agent sends it again.
				return nil, s.refuseFull(ctx, peer, offer, "staging", err)
			}
			return nil, fmt.Errorf("relay: staging: %w", errors.Join(rerr, err))
		}
		return nil, fmt.Errorf("relay: staging: %w", rerr)
	}
	if !u.complete() || [32]byte(hs.Sum(nil)) != offer.SHA256 {
		s.removeStaged(path)
		rej := reject(transport.CodeHashMismatch, "content does not match the offer and manifest")
		s.logRefusal(peer, offer, rej)
		return nil, rej
	}
	rcpt, err := s.commit(ctx, c, heldBody{u.reader()})
	u.unpooled = err != nil
	var rej *transport.RejectedError
	if err == nil || errors.As(err, &rej) {
		s.removeStaged(path)
	} else if werr := u.writeFile(path, false); werr != nil && !store.IsFull(werr) {
		// Nothing was committed: the complete file waits in the staging
		// file (not fsynced, as writeStaged leaves it) for the retry to
		// commit it, when it fits; the agent otherwise sends it again.
		s.log.Warn().Err(werr).Msg("keep staging file")
	}
	if store.IsFull(err) {
		return nil, s.refuseFull(ctx, peer, offer, "commit", err)
	}
	if err != nil {
		s.logRefusal(peer, offer, err)
	}
	return rcpt, err
}

// removeStaged removes the staging file at path, if any: one left by an
// earlier stream of the same offer once the upload is decided.
func (s *Server) removeStaged(path string) {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		s.log.Warn().Err(err).Msg("remove staging file")
	}
}
