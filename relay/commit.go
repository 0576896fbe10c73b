package relay

import (
	"bytes"
	"context"
	"dicomgate/audit"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"dicomgate/store"
	"dicomgate/transport"
)

// commit stores a verified file (body) and its manifest, records it and
// returns the signed receipt. A different file already committed for the
// same instance is kept under conflicts/ and refused with CodeConflict; the
// committed object is never overwritten.
func (s *Server) commit(ctx context.Context, c *checkedOffer, body objectBody) (*transport.Receipt, error) {
	res, m, start := c.res, c.manifest, time.Now()
	holder, err := instanceHolder(ctx, res.db, m.Project, m.StudyInstanceUID, m.SOPInstanceUID)
	if err != nil {
		return nil, err
	}
	switch {
	case holder != nil && holder.FileID == c.offer.ID && holder.SHA256 == c.sha256 && holder.Size == c.offer.Size:
		// Committed concurrently by another stream or relay.
		body.discard(ctx, holder.ObjectKey)
		if err := s.auditPending(ctx, c.offer.ID); err != nil {
			return nil, err
		}
		return decodeReceipt(holder.Receipt)
	case holder != nil && holder.PlainSHA256 == m.PlaintextSHA256:
		body.discard(ctx, holder.ObjectKey)
		return s.resealedReceipt(c, holder), nil
	case holder != nil:
		return nil, s.storeConflict(ctx, c, body)
	}
	// No record holds the instance, so none references its object key: an
	// object there is the leftover of an interrupted commit and is simply
	// replaced (one PUT, no HEAD). Races between writers are decided by
	// CommitFile below.
	if err := body.put(ctx, res.objects, c.keys.object, c.offer.Size); err != nil {
		return nil, fmt.Errorf("relay: put object: %w", err)
	}
	// The signed manifest lives in the file record (the API serves it from
	// there); the object next to the sealed file is optional.
	if s.cfg.Store.ManifestObjects {
		if err := res.objects.Put(ctx, c.keys.manifest, bytes.NewReader(c.offer.Manifest), int64(len(c.offer.Manifest))); err != nil {
			return nil, fmt.Errorf("relay: put manifest: %w", err)
		}
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	rcpt := &transport.Receipt{
		ID:          c.offer.ID,
		ObjectKey:   c.keys.object,
		Size:        c.offer.Size,
		SHA256:      c.offer.SHA256,
		CommittedAt: now,
	}
	rcpt.Sign(res.signKey)
	rb, err := json.Marshal(rcpt)
	if err != nil {
		return nil, fmt.Errorf("relay: encode receipt: %w", err)
	}
	existing, err := res.db.CommitFile(ctx, c.record(c.keys.object, rb, now))
	switch {
	case err == nil && existing == nil:
		s.log.Info().Str("agent_id", c.agent.ID).Str("file_id", c.offer.ID).Str("project", m.Project).
			Int64("size", c.offer.Size).Msg("file committed")
		if err := s.auditCommit(ctx, c.offer.ID, audit.Event{Actor: c.agent.ID, Action: audit.ActionFileCommitted,
			Project: m.Project, Study: m.StudyInstanceUID, Object: c.offer.ID, Details: manifestDetails(m)}); err != nil {
			return nil, err
		}
		s.afterCommit(ctx, c, time.Since(start))
		s.storageAvailable(ctx)
		return rcpt, nil
	case err == nil && existing.FileID == c.offer.ID:
		// Committed concurrently by another stream or relay.
		body.discard(ctx, existing.ObjectKey)
		return decodeReceipt(existing.Receipt)
	case err == nil:
		// The same plaintext, committed concurrently under another file ID
		// (possibly in another study).
		s.dropOrphan(ctx, res.objects, c.keys, existing.ObjectKey)
		return s.resealedReceipt(c, existing), nil
	case errors.Is(err, store.ErrConflict):
		// The conflict copy is read from body, which may be the object
		// at keys.object: kept first, dropped after.
		cerr := s.storeConflict(ctx, c, body)
		s.dropOrphan(ctx, res.objects, c.keys, existing.ObjectKey)
		return nil, cerr
	default:
		return nil, fmt.Errorf("relay: commit file: %w", err)
	}
}

// record builds the file record of a checked offer.
func (c *checkedOffer) record(objectKey string, receipt []byte, at time.Time) store.FileRecord {
	m := c.manifest
	return store.FileRecord{
		FileID:      c.offer.ID,
		Project:     m.Project,
		Site:        m.Site,
		AgentID:     m.AgentID,
		StudyUID:    m.StudyInstanceUID,
		SeriesUID:   m.SeriesInstanceUID,
		InstanceUID: m.SOPInstanceUID,
		SOPClassUID: m.SOPClassUID,
		Modality:    m.Modality,
		ObjectKey:   objectKey,
		Size:        c.offer.Size,
		SHA256:      c.sha256,
		PlainSHA256: m.PlaintextSHA256,
		Manifest:    c.offer.Manifest,
		Receipt:     receipt,
		CommittedAt: at,
	}
}

// instanceHolder returns the committed file that holds the instance, or
// nil. A MetaDB implementing store.InstanceFinder answers with one indexed
// lookup; others list the study.
func instanceHolder(ctx context.Context, db store.MetaDB, project, study, sop string) (*store.FileRecord, error) {
	if f, ok := db.(store.InstanceFinder); ok {
		rec, err := f.FindInstance(ctx, project, sop)
		if errors.Is(err, store.ErrNotExist) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("relay: find instance: %w", err)
		}
		return rec, nil
	}
	files, err := db.ListFiles(ctx, project, study)
	if err != nil {
		return nil, fmt.Errorf("relay: list files: %w", err)
	}
	for i := range files {
		if files[i].InstanceUID == sop {
			return &files[i], nil
		}
	}
	return nil, nil
}

// resealedReceipt answers an upload whose plaintext is already committed
// under another file ID (the same instance sealed again): the receipt names
// the offered bytes and the object that holds the same plaintext. Nothing is
// stored twice.
func (s *Server) resealedReceipt(c *checkedOffer, holder *store.FileRecord) *transport.Receipt {
	rcpt := &transport.Receipt{
		ID:          c.offer.ID,
		ObjectKey:   holder.ObjectKey,
		Size:        c.offer.Size,
		SHA256:      c.offer.SHA256,
		CommittedAt: holder.CommittedAt,
	}
	rcpt.Sign(c.res.signKey)
	s.log.Info().Str("agent_id", c.agent.ID).Str("file_id", c.offer.ID).Str("existing_file_id", holder.FileID).
		Msg("same instance already committed under another file id")
	return rcpt
}

// storeConflict keeps a refused conflicting upload (body) under
// conflicts/, records the conflict and returns the refusal for the agent.
func (s *Server) storeConflict(ctx context.Context, c *checkedOffer, body objectBody) error {
	m := c.manifest
	keys, err := conflictKeys(m.Project, m.SOPInstanceUID, c.offer.ID)
	if err != nil {
		body.discard(ctx, "")
		return reject(CodeBadIdentifier, "project or uid outside the allowed character set")
	}
	if err := body.put(ctx, c.res.objects, keys.object, c.offer.Size); err != nil {
		return fmt.Errorf("relay: put conflict: %w", err)
	}
	body.discard(ctx, "")
	if err := c.res.objects.Put(ctx, keys.manifest, bytes.NewReader(c.offer.Manifest), int64(len(c.offer.Manifest))); err != nil {
		return fmt.Errorf("relay: put conflict manifest: %w", err)
	}
	existing, err := c.res.db.CommitFile(ctx, c.record(keys.object, nil, time.Now()))
	if err != nil && !errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("relay: record conflict: %w", err)
	}
	ev := s.log.Warn().Str("agent_id", c.agent.ID).Str("file_id", c.offer.ID).Str("project", m.Project)
	if existing != nil {
		ev = ev.Str("existing_file_id", existing.FileID)
	}
	ev.Msg("conflicting upload kept under conflicts/")
	return reject(CodeConflict, "a different file is already committed for this instance")
}

// dropOrphan deletes the objects this upload stored when the record that
// won the commit lives at another key.
func (s *Server) dropOrphan(ctx context.Context, objects store.ObjectStore, keys objectKeys, winnerKey string) {
	if winnerKey == keys.object {
		return // cannot happen: keys carry the file id
	}
	for _, k := range []string{keys.object, keys.manifest} {
		if err := objects.Delete(ctx, k); err != nil && !errors.Is(err, store.ErrNotExist) {
			s.log.Warn().Err(err).Msg("delete orphan object")
		}
	}
}
