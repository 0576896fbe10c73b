package relay

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"dicomgate/store"
)

// fhirWriter rewrites studies' ImagingStudy objects after commits. Writes
// of one study are serialised and coalesced: while one runs, further
// commits only mark the study dirty, and one more write follows that lists
// the files after all of them. So a study of N files costs far fewer than
// N writes, and the last write always reflects every commit that preceded
// it on this relay. Relays sharing a store may race on the object; each
// commit rewrites it, and the API endpoint always builds it afresh.
type fhirWriter struct {
	wg    sync.WaitGroup
	flush chan struct{} // closed at shutdown: pending writes go at once
	once  sync.Once

	mu sync.Mutex
	// +checklocks:mu
	state map[string]bool // project/study -> dirty while a write runs
}

// fhirDebounce is how long a study's write waits for more commits of the
// same study, so a study arriving file by file is listed a few times, not
// once per file.
const fhirDebounce = 2 * time.Second

func newFHIRWriter() *fhirWriter {
	return &fhirWriter{state: map[string]bool{}, flush: make(chan struct{})}
}

// schedule has the ImagingStudy of project's study written in the
// background, soon.
func (w *fhirWriter) schedule(ctx context.Context, s *Server, project, study string) {
	k := project + "/" + study
	w.mu.Lock()
	if _, running := w.state[k]; running {
		w.state[k] = true
		w.mu.Unlock()
		return
	}
	w.state[k] = false
	w.mu.Unlock()
	ctx = context.WithoutCancel(ctx)
	w.wg.Go(func() {
		for {
			t := time.NewTimer(fhirDebounce)
			select {
			case <-t.C:
			case <-w.flush:
				t.Stop()
			}
			err := s.writeImagingStudy(ctx, project, study)
			if err != nil {
				s.mon.fhirFails.Inc()
				s.log.Warn().Err(err).Str("project", project).Msg("cannot write imagingstudy.json")
			}
			w.mu.Lock()
			if store.IsFull(err) && !w.flushing() {
				// No commit may follow to rewrite it: try again, after the
				// debounce, until the store has room (or shutdown).
				w.state[k] = true
			}
			if !w.state[k] {
				delete(w.state, k)
				w.mu.Unlock()
				return
			}
			w.state[k] = false
			w.mu.Unlock()
		}
	})
}

// flushing reports whether wait was called (shutdown).
func (w *fhirWriter) flushing() bool {
	select {
	case <-w.flush:
		return true
	default:
		return false
	}
}

// wait flushes pending writes and returns once none is left.
func (w *fhirWriter) wait() {
	w.once.Do(func() { close(w.flush) })
	w.wg.Wait()
}

// writeImagingStudy builds the ImagingStudy of a study from the metadata
// database and stores it beside the study's objects.
func (s *Server) writeImagingStudy(ctx context.Context, project, study string) error {
	key, err := imagingStudyKey(project, study)
	if err != nil {
		return err
	}
	b, err := s.imagingStudyJSON(ctx, project, study)
	if err != nil {
		return err
	}
	res, err := s.resources()
	if err != nil {
		return err
	}
	if err := res.objects.Put(ctx, key, bytes.NewReader(b), int64(len(b))); err != nil {
		return fmt.Errorf("relay: put imagingstudy: %w", err)
	}
	return nil
}

// imagingStudyJSON returns the ImagingStudy of a study as indented JSON,
// or errEmptyStudy.
func (s *Server) imagingStudyJSON(ctx context.Context, project, study string) ([]byte, error) {
	res, err := s.resources()
	if err != nil {
		return nil, err
	}
	files, err := res.db.ListFiles(ctx, project, study)
	if err != nil {
		return nil, fmt.Errorf("relay: imagingstudy: list files: %w", err)
	}
	is, err := buildImagingStudy(study, files)
	if err != nil {
		return nil, err
	}
	b, err := json.MarshalIndent(is, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("relay: imagingstudy: encode: %w", err)
	}
	return append(b, '\n'), nil
}
