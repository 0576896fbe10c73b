package relay

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"dicomgate/audit"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"dicomgate/seal"
	"dicomgate/store"
	"dicomgate/transport"
)

// checkedOffer is an offer whose manifest verified and matches the agent's
// enrolment and the project's rules.
type checkedOffer struct {
	res      *resources
	offer    *transport.Offer
	manifest *seal.Manifest
	agent    *store.Agent
	keys     objectKeys
	sha256   string // hex of offer.SHA256
}

// checkOffer verifies an offer before any byte is staged or committed.
func (s *Server) checkOffer(ctx context.Context, peer transport.Peer, offer *transport.Offer) (*checkedOffer, error) {
	res, err := s.resources()
	if err != nil {
		return nil, reject(transport.CodeUnavailable, "relay not ready")
	}
	if peer.Certificate == nil {
		return nil, reject(transport.CodeUnauthenticated, "upload requires an enrolled agent certificate")
	}
	agent, err := s.enrolledAgent(ctx, peer.AgentID, peer.Certificate)
	switch {
	case errors.Is(err, errAgentUnknown), errors.Is(err, errAgentRevoked), errors.Is(err, errAgentCert):
		return nil, reject(transport.CodeForbidden, "agent not authorized")
	case err != nil:
		return nil, err
	}
	pub := ed25519.PublicKey(agent.PublicKey)
	m, err := seal.OpenManifest(offer.Manifest, seal.TrustKeys(pub))
	if err != nil {
		return nil, reject(CodeBadManifest, "manifest is not validly signed by the agent key")
	}
	if m.AgentID != agent.ID || m.Project != agent.Project || m.Site != agent.Site {
		return nil, reject(transport.CodeForbidden, "manifest project, site or agent does not match the enrolment")
	}
	proj := s.cfg.project(m.Project)
	if proj == nil {
		return nil, reject(transport.CodeForbidden, "project not served by this relay")
	}
	if !s.policyAccepted(ctx, proj, m.PolicyHash) {
		return nil, reject(CodePolicyNotApproved, "policy hash not approved for the project")
	}
	if m.FileID != offer.ID {
		return nil, reject(CodeBadManifest, "manifest file id does not match the offer")
	}
	if !validFileID(offer.ID) {
		return nil, reject(CodeBadIdentifier, "file id must be 1..128 characters of [A-Za-z0-9._-]")
	}
	keys, err := instanceKeys(m.Project, m.StudyInstanceUID, m.SeriesInstanceUID, m.SOPInstanceUID, offer.ID)
	if err != nil {
		return nil, reject(CodeBadIdentifier, "project or uid outside the allowed character set")
	}
	sum := hex.EncodeToString(offer.SHA256[:])
	if offer.Size != m.CiphertextSize || sum != m.CiphertextSHA256 {
		return nil, reject(CodeBadManifest, "offer size or sha256 does not match the manifest")
	}
	return &checkedOffer{res: res, offer: offer, manifest: m, agent: agent, keys: keys, sha256: sum}, nil
}

// committedReceipt returns the stored receipt when the offered file is
// already committed, nil when it is not.
func (s *Server) committedReceipt(ctx context.Context, c *checkedOffer) (*transport.Receipt, error) {
	rec, err := c.res.db.GetFile(ctx, c.offer.ID)
	if errors.Is(err, store.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("relay: get file: %w", err)
	}
	switch {
	case rec.Project != c.manifest.Project:
		return nil, reject(CodeConflict, "file id already committed with other content")
	case rec.SHA256 == c.sha256 && rec.Size == c.offer.Size:
		if err := s.auditCommitted(ctx, c, rec); err != nil {
			return nil, err
		}
		return decodeReceipt(rec.Receipt)
	case rec.PlainSHA256 == c.manifest.PlaintextSHA256:
		// The same anonymised file sealed again (a re-sent C-STORE after
		// a crash, a spool file lost): the relay already holds it.
		return s.resealedReceipt(c, rec), nil
	default:
		return nil, reject(CodeConflict, "file id already committed with other content")
	}
}

// Begin implements transport.Handler: it checks the offer (enrolment,
// manifest signature, project rules) once for the whole upload and says
// how many bytes of it are staged.
func (h handler) Begin(ctx context.Context, peer transport.Peer, offer *transport.Offer) (transport.Upload, *transport.Receipt, error) {
	s := h.s
	s.mon.agentSeen(peer.AgentID)
	c, err := s.checkOffer(ctx, peer, offer)
	if err != nil {
		s.logRefusal(peer, offer, err)
		return nil, nil, err
	}
	if rcpt, err := s.committedReceipt(ctx, c); err != nil || rcpt != nil {
		return nil, rcpt, err
	}
	path := stagePath(c.res.stagingDir, peer.AgentID, offer)
	unlock, err := s.stages.lock(ctx, path)
	if err != nil {
		return nil, nil, err
	}
	defer unlock()
	have, err := stagedOffset(path, offer.Size)
	if err != nil {
		return nil, nil, fmt.Errorf("relay: staged size: %w", err)
	}
	return &upload{s: s, peer: peer, c: c, path: path, have: have}, nil, nil
}

// upload is an upload Begin accepted, its offer checked.
type upload struct {
	s    *Server
	peer transport.Peer
	c    *checkedOffer
	path string // staging file
	have int64  // bytes staged when Begin looked
}

var _ transport.Upload = (*upload)(nil)

// Offset implements transport.Upload.
func (u *upload) Offset() int64 { return u.have }

// Write implements transport.Upload: it stages the bytes from Offset on
// (kept, fsynced, when the stream is cut), verifies size and SHA-256 and
// commits. A small file sent whole is received in memory (writeMemory),
// others in the staging file (writeStaged).
func (u *upload) Write(ctx context.Context, r io.Reader) (*transport.Receipt, error) {
	s, c := u.s, u.c
	defer s.mon.uploading(u.peer.AgentID)()
	unlock, err := s.stages.lock(ctx, u.path)
	if err != nil {
		return nil, err
	}
	defer unlock()
	// Another stream may have committed the file while this one waited.
	if rcpt, err := s.committedReceipt(ctx, c); err != nil || rcpt != nil {
		return rcpt, err
	}
	st, err := loadStreamState(u.path)
	if err != nil {
		// Unreadable: what it noted is lost, the agent starts over.
		s.log.Warn().Err(err).Msg("stream state")
		if rerr := removeStreamState(u.path); rerr != nil {
			return nil, rerr
		}
		s.removeStaged(u.path)
		return nil, reject(transport.CodeUnavailable, "staged data lost, retry")
	}
	if st != nil {
		ps, ok := c.res.objects.(store.PartStore)
		if !ok {
			// The object store changed under it: the parts are elsewhere.
			s.dropStream(ctx, nil, u.path, nil)
			return nil, reject(transport.CodeUnavailable, "staged data lost, retry")
		}
		return s.writeStreamed(ctx, u.peer, c, ps, u.path, st, u.have, r)
	}
	if u.have == 0 {
		if m := s.mem.take(c.offer.Size); m != nil {
			defer m.release()
			return s.writeMemory(ctx, u.peer, c, u.path, m, r)
		}
		if ps := s.streamTo(ctx, c); ps != nil {
			return s.writeStreamed(ctx, u.peer, c, ps, u.path, nil, 0, r)
		}
	}
	return s.writeStaged(ctx, u.peer, c, u.path, u.have, r)
}

// writeStaged is Write through the staging file at path.
func (s *Server) writeStaged(ctx context.Context, peer transport.Peer, c *checkedOffer, path string, offset int64, r io.Reader) (*transport.Receipt, error) {
	offer := c.offer
	s.mon.received(heldFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if store.IsFull(err) {
		return nil, s.refuseFull(ctx, peer, offer, "staging", err)
	}
	if err != nil {
		return nil, fmt.Errorf("relay: staging file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("relay: staging file: %w", err)
	}
	if fi.Size() < offset {
		// The staged bytes were lost; the agent's next attempt starts over
		// from what Begin then reports.
		return nil, reject(transport.CodeUnavailable, "staged data lost, retry")
	}
	if err := f.Truncate(offset); err != nil {
		return nil, fmt.Errorf("relay: staging file: %w", err)
	}
	// Hash while staging: the bytes already staged by an earlier stream
	// first, then those of this one as they are written.
	hs := sha256.New()
	if offset > 0 {
		if _, err := io.Copy(hs, io.NewSectionReader(f, 0, offset)); err != nil {
			return nil, fmt.Errorf("relay: staging file: %w", err)
		}
	}
	n, copyErr := s.stage(f, offer.ID, offset, r, hs)
	if copyErr != nil && !store.IsFull(copyErr) {
		// Kept for the agent to resume from: fsynced, so a relay restart
		// does not make it start over.
		copyErr = errors.Join(copyErr, f.Sync())
	}
	if store.IsFull(copyErr) {
		// Part of the file is staged, the rest does not fit. Keeping it for
		// a resume would hold space that every other upload needs too (all
		// of them stalled at their own partial file, none completing): it
		// goes, and the agent's retry sends the file again.
		f.Close()
		os.Remove(path)
		return nil, s.refuseFull(ctx, peer, offer, "staging", copyErr)
	}
	if copyErr != nil {
		return nil, fmt.Errorf("relay: staging: %w", copyErr)
	}
	// A complete file is not fsynced: it is committed from the page cache
	// right away and removed. Staged bytes that a crash lost or tore show
	// up as a hash mismatch on the next attempt, which starts over.
	if offset+n != offer.Size || [32]byte(hs.Sum(nil)) != offer.SHA256 {
		f.Close()
		os.Remove(path)
		if offset > 0 {
			// The fault may lie in what an earlier stream staged (a relay
			// crash, a full disk): not the agent's file's fault.
			return nil, reject(transport.CodeUnavailable, "staged data lost, retry")
		}
		rej := reject(transport.CodeHashMismatch, "content does not match the offer and manifest")
		s.logRefusal(peer, offer, rej)
		return nil, rej
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("relay: staging file: %w", err)
	}
	rcpt, err := s.commit(ctx, c, heldBody{f})
	var rej *transport.RejectedError
	if err == nil || errors.As(err, &rej) {
		f.Close()
		if rerr := os.Remove(path); rerr != nil {
			s.log.Warn().Err(rerr).Msg("remove staging file")
		}
	}
	if store.IsFull(err) {
		// Nothing was committed (an object written before a full database
		// is replaced by the retry). The complete staging file stays: the
		// retry only commits it.
		return nil, s.refuseFull(ctx, peer, offer, "commit", err)
	}
	if err != nil {
		s.logRefusal(peer, offer, err)
	}
	return rcpt, err
}

// logRefusal logs why an upload was refused: the code only, no PHI.
func (s *Server) logRefusal(peer transport.Peer, offer *transport.Offer, err error) {
	var rej *transport.RejectedError
	if errors.As(err, &rej) {
		s.log.Info().Str("agent_id", peer.AgentID).Str("file_id", offer.ID).Str("code", rej.Code).Msg("upload refused")
		s.mon.refused(rej.Code)
		action := audit.ActionFileRejected
		if rej.Code == CodeConflict {
			action = audit.ActionConflict
		}
		s.record(context.Background(), audit.Event{Actor: peer.AgentID, Action: action, Object: offer.ID,
			Reason: rej.Code, IP: peer.RemoteAddr.String()})
	}
}

// decodeReceipt decodes a receipt stored with a file record.
func decodeReceipt(b []byte) (*transport.Receipt, error) {
	var r transport.Receipt
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("relay: stored receipt: %w", err)
	}
	return &r, nil
}
