package relay

import (
	"dicomgate/audit"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"dicomgate/store"
)

// handleObject streams a sealed object. "Range: bytes=N-" and
// "bytes=N-M" (one range) resume a partial download with 206; every
// download is recorded with the caller's name.
func (s *Server) handleObject(w http.ResponseWriter, r *http.Request) {
	res, err := s.resources()
	if err != nil {
		s.internal(w, err)
		return
	}
	rec, ok := s.file(w, r, res)
	if !ok {
		return
	}
	size := rec.Size
	info, err := res.objects.Stat(r.Context(), rec.ObjectKey)
	if err == nil && info.Size != size {
		s.log.Error().Str("file_id", rec.FileID).Int64("size", info.Size).Int64("want", size).Msg("stored object has the wrong size")
		writeError(w, http.StatusInternalServerError, "object_damaged", "stored object is damaged")
		return
	}
	if err != nil && !errors.Is(err, store.ErrNotExist) {
		s.internal(w, err)
		return
	}
	start, end, partial, err := parseRange(r.Header.Get("Range"), size)
	if err != nil {
		w.Header().Set("Content-Range", fmt.Sprintf("bytes */%d", size))
		writeError(w, http.StatusRequestedRangeNotSatisfiable, "bad_range", "range not satisfiable")
		return
	}
	rc, err := res.objects.Get(r.Context(), rec.ObjectKey, start)
	if errors.Is(err, store.ErrNotExist) {
		s.log.Error().Str("file_id", rec.FileID).Msg("committed object missing from the store")
		writeError(w, http.StatusInternalServerError, "internal", "object missing")
		return
	}
	if err != nil {
		s.internal(w, err)
		return
	}
	defer rc.Close()
	principal := principalFrom(r.Context())
	if err := res.db.RecordDownload(r.Context(), store.Download{FileID: rec.FileID, Principal: principal.Name}); err != nil {
		s.internal(w, err)
		return
	}
	s.log.Info().Str("file_id", rec.FileID).Str("principal", principal.Name).Int64("offset", start).Msg("download")
	s.record(r.Context(), audit.Event{Actor: principal.Name, Action: audit.ActionDownload, Project: rec.Project,
		Study: rec.StudyUID, Object: rec.FileID, IP: r.RemoteAddr, Details: map[string]any{"offset": start}})
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Accept-Ranges", "bytes")
	h.Set("ETag", `"`+rec.SHA256+`"`)
	h.Set("Content-Length", strconv.FormatInt(end-start, 10))
	status := http.StatusOK
	if partial {
		h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, end-1, size))
		status = http.StatusPartialContent
	}
	w.WriteHeader(status)
	if _, err := io.Copy(w, io.LimitReader(rc, end-start)); err != nil {
		s.log.Debug().Str("file_id", rec.FileID).Msg("download cut")
	}
}

var errBadRange = errors.New("relay: bad range")

// parseRange parses an optional single "bytes=" range against size and
// returns [start, end). An empty header is the whole object.
func parseRange(h string, size int64) (start, end int64, partial bool, err error) {
	if h == "" {
		return 0, size, false, nil
	}
	spec, ok := strings.CutPrefix(h, "bytes=")
	if !ok || strings.Contains(spec, ",") {
		return 0, 0, false, errBadRange
	}
	first, last, ok := strings.Cut(strings.TrimSpace(spec), "-")
	if !ok || first == "" {
		// Suffix ranges ("bytes=-N") are not needed to resume.
		return 0, 0, false, errBadRange
	}
	start, err = strconv.ParseInt(first, 10, 64)
	if err != nil || start < 0 || start >= size {
		return 0, 0, false, errBadRange
	}
	end = size
	if last != "" {
		l, err := strconv.ParseInt(last, 10, 64)
		if err != nil || l < start {
			return 0, 0, false, errBadRange
		}
		end = min(l+1, size)
	}
	return start, end, true, nil
}
