package relay

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path"
	"strings"

	"dicomgate/store"
	"dicomgate/transport"
)

// maxObjectNameLen is the longest last element of a streamed object's key:
// a file name on the filesystem store (NAME_MAX). Only file IDs far longer
// than the agent's make a longer one; those files are staged.
const maxObjectNameLen = 255

// errShortUpload reports a stream that ended before the offered size.
var errShortUpload = errors.New("relay: upload ended before its offered size")

// errStorePart marks a part that failed on the object store's side (not
// the agent's stream).
var errStorePart = errors.New("relay: object store")

// streamed returns the keys of a streamed upload of the content whose
// SHA-256 is sha (hex): the file ID's keys with the content's hash, so
// that the object a streamed upload publishes before its commit can never
// replace a committed object (other content offered under the same file
// ID gets other keys).
func (k objectKeys) streamed(sha string) objectKeys {
	tag := "." + sha
	return objectKeys{
		object:   strings.TrimSuffix(k.object, ".dgseal") + tag + ".dgseal",
		manifest: strings.TrimSuffix(k.manifest, ".manifest") + tag + ".manifest",
	}
}

// streamTo returns the object store a new upload of c goes to as it
// arrives (writeStreamed), or nil when it is staged: a file of at least
// staging.stream_min bytes, an object store that assembles parts, and no
// committed file for the instance yet (a conflict or a re-sealed file is
// decided with the file staged).
func (s *Server) streamTo(ctx context.Context, c *checkedOffer) store.PartStore {
	minSize := s.cfg.Staging.StreamMin
	if minSize < 0 || c.offer.Size < minSize {
		return nil
	}
	ps, ok := c.res.objects.(store.PartStore)
	if !ok || len(path.Base(c.keys.streamed(c.sha256).object)) > maxObjectNameLen {
		return nil
	}
	holder, err := instanceHolder(ctx, c.res.db, c.manifest.Project, c.manifest.StudyInstanceUID, c.manifest.SOPInstanceUID)
	if err != nil || holder != nil {
		return nil
	}
	return ps
}

// stagedOffset returns how many bytes of offer the relay holds for the
// upload staged at path: the stored parts of a streamed upload and the
// bytes after them, or the staging file's.
func stagedOffset(path string, size int64) (int64, error) {
	st, err := loadStreamState(path)
	if err != nil {
		return 0, nil // Write drops it; the upload starts over
	}
	have, err := stagedSize(path, size)
	if err != nil || st == nil {
		return have, err
	}
	return min(st.stored()+have, size), nil
}

// writeStreamed is Write for an upload that goes to the object store as
// it arrives, in parts of an upload the store assembles (a multipart
// upload on S3): no staging file is written, and the object store writes
// while the bytes arrive instead of after. One part at a time is held in
// memory, within staging.memory_budget. The object is published only once
// the whole file arrived and its size and SHA-256 match the offer; a file
// that does not match is discarded, parts and all.
//
// st is the state left by an earlier stream of the same offer, or nil for
// a new upload, which is staged in a file instead when the memory budget
// has no room for its part. A cut stream keeps the bytes received after
// the last stored part in the staging file at path (fsynced) and the
// state next to it: the agent resumes from there.
func (s *Server) writeStreamed(ctx context.Context, peer transport.Peer, c *checkedOffer, ps store.PartStore, path string, st *streamState, offset int64, r io.Reader) (*transport.Receipt, error) {
	offer := c.offer
	keys := c.keys.streamed(c.sha256)
	resumed := st != nil
	if resumed && (st.Key != keys.object || st.PartSize <= 0) {
		s.dropStream(ctx, ps, path, st)
		return nil, reject(transport.CodeUnavailable, "staged data lost, retry")
	}
	partSize := ps.PartSize(offer.Size)
	if resumed {
		partSize = st.PartSize
	}
	// The part buffer: a file smaller than a part needs no more.
	bufSize := min(partSize, offer.Size)
	if !s.mem.reserve(bufSize) {
		if !resumed {
			return s.writeStaged(ctx, peer, c, path, 0, r)
		}
		return nil, reject(transport.CodeUnavailable, "relay busy, retry")
	}
	defer s.mem.unreserve(bufSize)
	s.mon.received(heldStream)
	if !resumed {
		id, err := ps.BeginParts(ctx, keys.object)
		if err != nil {
			return nil, fmt.Errorf("relay: stream upload: %w", err)
		}
		st = &streamState{FileID: offer.ID, Key: keys.object, UploadID: id, PartSize: partSize}
		if err := st.save(path); err != nil {
			s.abortParts(ctx, ps, st)
			if store.IsFull(err) {
				return nil, s.refuseFull(ctx, peer, offer, "staging", err)
			}
			return nil, err
		}
	}
	hs := sha256.New()
	if len(st.Hash) > 0 {
		if err := hs.(encoding.BinaryUnmarshaler).UnmarshalBinary(st.Hash); err != nil {
			s.dropStream(ctx, ps, path, st)
			return nil, reject(transport.CodeUnavailable, "staged data lost, retry")
		}
	}
	stored := st.stored()
	buf := make([]byte, 0, bufSize)
	if offset != stored {
		// The bytes after the stored parts, kept by a cut stream.
		tail, err := os.ReadFile(path)
		if err != nil || offset < stored || int64(len(tail)) != offset-stored || len(tail) > cap(buf) {
			return nil, reject(transport.CodeUnavailable, "staged data changed, retry")
		}
		buf = append(buf, tail...)
		hs.Write(tail)
	}
	for !st.Completed && stored < offer.Size {
		p := store.Part{N: len(st.Parts) + 1, Size: min(st.PartSize, offer.Size-stored)}
		var err error
		p, buf, err = s.streamPart(ctx, ps, st, p, buf, r, hs, s.progress(offer.ID, stored))
		if errors.Is(err, errShortUpload) {
			break // a mismatch, decided below
		}
		if errors.Is(err, errStorePart) && errors.Is(ps.CheckParts(ctx, st.Key, st.UploadID), store.ErrNotExist) {
			// The store dropped the upload (a lifecycle rule, another
			// relay's clean-up; it may say so by cutting the part's
			// request): what it held is lost, the agent starts over.
			s.dropStream(ctx, ps, path, st)
			return nil, reject(transport.CodeUnavailable, "staged data lost, retry")
		}
		if err != nil {
			return nil, s.keepTail(ctx, peer, offer, path, buf, err)
		}
		st.Parts = append(st.Parts, p)
		stored += p.Size
		if st.Hash, err = hs.(encoding.BinaryMarshaler).MarshalBinary(); err != nil {
			return nil, fmt.Errorf("relay: stream upload: %w", err)
		}
		// The bytes kept by a cut stream are in the part now: they go
		// before the state says so (a crash in between makes the agent
		// send the part again, never resume after stale bytes).
		s.removeStaged(path)
		if err := st.save(path); err != nil {
			// The part is stored but not noted: the retry sends it again.
			return nil, s.keepTail(ctx, peer, offer, path, buf, err)
		}
		buf = buf[:0]
	}
	if stored != offer.Size || readsMore(r) || [32]byte(hs.Sum(nil)) != offer.SHA256 {
		s.dropStream(ctx, ps, path, st)
		if resumed {
			// The fault may lie in what an earlier stream stored.
			return nil, reject(transport.CodeUnavailable, "staged data lost, retry")
		}
		rej := reject(transport.CodeHashMismatch, "content does not match the offer and manifest")
		s.logRefusal(peer, offer, rej)
		return nil, rej
	}
	if !st.Completed {
		if err := ps.CompleteParts(ctx, st.Key, st.UploadID, st.Parts); err != nil {
			// A relay stopped between publishing the object and noting it
			// finds the upload gone and the object there.
			fi, serr := ps.Stat(ctx, st.Key)
			switch {
			case serr == nil && fi.Size == offer.Size:
			case errors.Is(err, store.ErrNotExist) && errors.Is(serr, store.ErrNotExist):
				// Neither the upload nor its object: dropped by the store.
				s.dropStream(ctx, ps, path, st)
				return nil, reject(transport.CodeUnavailable, "staged data lost, retry")
			default:
				return nil, fmt.Errorf("relay: stream upload: %w", err)
			}
		}
		st.Completed = true
		if err := st.save(path); err != nil {
			s.log.Warn().Err(err).Msg("stream state")
		}
	}
	sc := *c
	sc.keys = keys
	rcpt, err := s.commit(ctx, &sc, storedBody{s: s, objects: ps, key: keys.object})
	var rej *transport.RejectedError
	if err == nil || errors.As(err, &rej) {
		if rerr := removeStreamState(path); rerr != nil {
			s.log.Warn().Err(rerr).Msg("remove stream state")
		}
	}
	if store.IsFull(err) {
		return nil, s.refuseFull(ctx, peer, offer, "commit", err)
	}
	if err != nil {
		s.logRefusal(peer, offer, err)
	}
	return rcpt, err
}

// streamPart stores part p of st's upload from r as it arrives. buf holds
// the part's first bytes (kept by a cut stream, already hashed); what r
// yields is appended to it and written to h. It returns the stored part
// and buf with every byte of the part received, also when it fails.
// progress, if not nil, is called with the part's bytes received so far.
func (s *Server) streamPart(ctx context.Context, ps store.PartStore, st *streamState, p store.Part, buf []byte, r io.Reader, h hash.Hash, progress func(int64)) (store.Part, []byte, error) {
	type result struct {
		p   store.Part
		err error
	}
	pr, pw := io.Pipe()
	done := make(chan result, 1)
	go func() {
		got, err := ps.PutPart(ctx, st.Key, st.UploadID, p, pr)
		// A writer blocked in pw.Write returns: the store took all it will.
		pr.CloseWithError(cmp.Or(err, io.ErrClosedPipe))
		done <- result{got, err}
	}()
	// Only this goroutine reads r and writes buf; the store reads what
	// pw.Write hands it, before pw.Write returns.
	_, werr := pw.Write(buf)
	var rerr error
	for werr == nil && int64(len(buf)) < p.Size {
		n := len(buf)
		k := min(int64(stagingBufSize), p.Size-int64(n))
		m, err := io.ReadFull(r, buf[n:n+int(k)])
		if m > 0 {
			h.Write(buf[n : n+m])
			buf = buf[:n+m]
			_, werr = pw.Write(buf[n : n+m])
			if progress != nil {
				progress(int64(n + m))
			}
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			rerr = errShortUpload
		} else if err != nil {
			rerr = err
		}
		if rerr != nil {
			break
		}
	}
	if rerr != nil {
		pw.CloseWithError(rerr)
	} else {
		pw.Close()
	}
	res := <-done
	if rerr == nil && werr == nil && res.err == nil {
		return res.p, buf, nil
	}
	if rerr == nil {
		return p, buf, fmt.Errorf("%w: %w", errStorePart, cmp.Or(res.err, werr))
	}
	return p, buf, rerr
}

// progress returns the test hook's progress callback for the bytes of
// fileID received after its first base bytes, or nil.
func (s *Server) progress(fileID string, base int64) func(int64) {
	if s.onStaged == nil {
		return nil
	}
	return func(n int64) { s.onStaged(fileID, base+n) }
}

// keepTail keeps the bytes of a streamed upload received after its last
// stored part (buf) in the staging file at path, fsynced, for the agent to
// resume from, and returns the error that cut the upload.
func (s *Server) keepTail(ctx context.Context, peer transport.Peer, offer *transport.Offer, path string, buf []byte, cause error) error {
	err := writeSynced(path, buf)
	if store.IsFull(err) || store.IsFull(cause) {
		return s.refuseFull(ctx, peer, offer, "staging", errors.Join(cause, err))
	}
	if err != nil {
		return fmt.Errorf("relay: staging: %w", errors.Join(cause, err))
	}
	return fmt.Errorf("relay: stream upload: %w", cause)
}

// writeSynced replaces the file at path with b, fsynced; an empty b
// removes it.
func writeSynced(path string, b []byte) error {
	if len(b) == 0 {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		return nil
	}
	return writeStagingFile(path, bytes.NewReader(b), true)
}

// readsMore reports whether r yields anything more (then the stream holds
// more than its offered size); it reads on to the stream's end.
func readsMore(r io.Reader) bool {
	var one [1]byte
	n, _ := io.ReadFull(r, one[:])
	return n > 0
}

// dropStream discards a streamed upload staged at path: its parts, its
// state and the bytes kept after them.
func (s *Server) dropStream(ctx context.Context, ps store.PartStore, path string, st *streamState) {
	if ps != nil && st != nil {
		if !st.Completed {
			s.abortParts(ctx, ps, st)
		}
		// Published, perhaps, by a relay stopped before it noted so.
		s.dropUncommitted(ctx, ps, st)
	}
	if err := removeStreamState(path); err != nil {
		s.log.Warn().Err(err).Msg("remove stream state")
	}
	s.removeStaged(path)
}

// abortParts aborts st's upload in the object store, logging a failure
// (the store's own clean-up of incomplete uploads then takes it).
func (s *Server) abortParts(ctx context.Context, ps store.PartStore, st *streamState) {
	if err := ps.AbortParts(context.WithoutCancel(ctx), st.Key, st.UploadID); err != nil {
		s.log.Warn().Err(err).Msg("abort streamed upload")
	}
}

// dropUncommitted deletes the object a streamed upload published when no
// file record references it (its commit failed and nobody retried it).
func (s *Server) dropUncommitted(ctx context.Context, objects store.ObjectStore, st *streamState) {
	res, err := s.resources()
	if err != nil {
		return
	}
	rec, err := res.db.GetFile(ctx, st.FileID)
	switch {
	case err == nil && rec.ObjectKey == st.Key:
		return // committed: the state outlived its commit
	case err != nil && !errors.Is(err, store.ErrNotExist):
		s.log.Warn().Err(err).Msg("streamed object: get file")
		return
	}
	if err := objects.Delete(ctx, st.Key); err != nil && !errors.Is(err, store.ErrNotExist) {
		s.log.Warn().Err(err).Msg("delete uncommitted streamed object")
	}
}
