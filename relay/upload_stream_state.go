package relay

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"dicomgate/store"
)

// streamState is what a streamed upload (writeStreamed) keeps next to its
// staging path, in a small file, to go on after a cut stream or a
// restart: the object store's upload, the parts it holds and the SHA-256
// state after their bytes. The staging file itself then holds only the
// bytes received after the last stored part (at most one part).
type streamState struct {
	// FileID is the offer's file ID.
	FileID string `json:"file_id"`
	// Key is the object key the upload assembles (pseudonymous).
	Key string `json:"key"`
	// UploadID is the object store's upload.
	UploadID string `json:"upload_id"`
	// PartSize is the size of every part but the last.
	PartSize int64 `json:"part_size"`
	// Parts are the parts stored, in order.
	Parts []store.Part `json:"parts"`
	// Hash is the marshalled SHA-256 state after the parts' bytes.
	Hash []byte `json:"hash"`
	// Completed is set once the object is published (CompleteParts): a
	// commit that failed after it is retried without the parts.
	Completed bool `json:"completed,omitempty"`
}

// stored returns the bytes in the stored parts.
func (st *streamState) stored() int64 {
	var n int64
	for _, p := range st.Parts {
		n += p.Size
	}
	return n
}

// streamStatePath is the state file of the streamed upload staged at path.
func streamStatePath(path string) string {
	return strings.TrimSuffix(path, ".part") + ".stream"
}

// loadStreamState reads the state of the streamed upload staged at path:
// nil when there is none.
func loadStreamState(path string) (*streamState, error) {
	b, err := os.ReadFile(streamStatePath(path))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("relay: stream state: %w", err)
	}
	var st streamState
	if err := json.Unmarshal(b, &st); err != nil || st.UploadID == "" || st.Key == "" || st.PartSize <= 0 {
		return nil, fmt.Errorf("relay: stream state %s: unreadable", streamStatePath(path))
	}
	return &st, nil
}

// save writes st for the upload staged at path: a new file, fsynced,
// renamed over the old one.
func (st *streamState) save(path string) error {
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("relay: stream state: %w", err)
	}
	p := streamStatePath(path)
	tmp := p + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("relay: stream state: %w", err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, p)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("relay: stream state: %w", err)
	}
	return nil
}

// removeStreamState removes the state file of the upload staged at path.
func removeStreamState(path string) error {
	err := os.Remove(streamStatePath(path))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("relay: stream state: %w", err)
	}
	return nil
}
