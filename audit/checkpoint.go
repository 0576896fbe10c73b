package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"dicomgate/store"
)

// Origin is the first line of every checkpoint: the log's identity.
const Origin = "dicomgate-audit"

// Checkpoint is a signed statement of the tree's size and root hash. Its
// note text is
//
//	dicomgate-audit
//	<size>
//	<base64 root hash>
//
//	— <key name> <base64 signature>
//
// (the tlog checkpoint body under our origin, signed per
// golang.org/x/mod/sumdb/note).
type Checkpoint struct {
	// ID is the store's id of the checkpoint.
	ID int64 `json:"id"`
	// Size is the number of entries covered.
	Size int64 `json:"size"`
	// Hash is the RFC 6962 root hash of the first Size entries.
	Hash tlog.Hash `json:"hash"`
	// Note is the signed note text.
	Note string `json:"note"`
	// CreatedAt is when the checkpoint was stored (not signed).
	CreatedAt time.Time `json:"created_at"`
}

// formatTree returns a checkpoint body.
func formatTree(size int64, h tlog.Hash) []byte {
	return fmt.Appendf(nil, "%s\n%d\n%s\n", Origin, size, h)
}

// parseTree parses a checkpoint body (the note text before the signatures).
func parseTree(text string) (int64, tlog.Hash, error) {
	lines := strings.SplitN(text, "\n", 4)
	if len(lines) != 4 || lines[0] != Origin || lines[3] != "" {
		return 0, tlog.Hash{}, errors.New("audit: malformed checkpoint")
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 || strconv.FormatInt(size, 10) != lines[1] {
		return 0, tlog.Hash{}, errors.New("audit: malformed checkpoint size")
	}
	h, err := tlog.ParseHash(lines[2])
	if err != nil {
		return 0, tlog.Hash{}, fmt.Errorf("audit: malformed checkpoint hash: %w", err)
	}
	return size, h, nil
}

// noteBody returns a signed note's text without opening it: everything up
// to the blank line before the signatures.
func noteBody(msg []byte) (string, error) {
	i := bytes.LastIndex(msg, []byte("\n\n"))
	if i < 0 {
		return "", errors.New("audit: malformed note")
	}
	return string(msg[:i+1]), nil
}

// openCheckpoint checks c's signature with vs and parses it.
func openCheckpoint(c store.AuditCheckpoint, vs note.Verifiers) (*Checkpoint, error) {
	n, err := note.Open(c.Note, vs)
	if err != nil {
		return nil, fmt.Errorf("audit: checkpoint %d: %w", c.ID, err)
	}
	size, h, err := parseTree(n.Text)
	if err != nil {
		return nil, fmt.Errorf("audit: checkpoint %d: %w", c.ID, err)
	}
	if size != c.Size {
		return nil, fmt.Errorf("audit: checkpoint %d: signed size %d, stored as %d", c.ID, size, c.Size)
	}
	return &Checkpoint{ID: c.ID, Size: size, Hash: h, Note: string(c.Note), CreatedAt: c.CreatedAt}, nil
}

// Checkpoint signs and stores a checkpoint of the whole log as it is now,
// and returns it. Before signing it proves, with the stored hashes, that
// the new tree extends the latest stored checkpoint (tlog.ProveTree and
// CheckTree), so a history rewritten in the database is never signed over:
// that fails with an error wrapping [ErrTampered].
func (l *Log) Checkpoint(ctx context.Context) (*Checkpoint, error) {
	// The latest checkpoint is read before the size: checkpoints are only
	// ever written for sizes the log has reached, and the size only grows,
	// so a concurrent checkpointer cannot make the latest one look larger
	// than the log.
	last, err := l.st.LatestAuditCheckpoint(ctx)
	if errors.Is(err, store.ErrNotExist) {
		last, err = nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("audit: checkpoint: %w", err)
	}
	size, err := l.st.AuditSize(ctx)
	if err != nil {
		return nil, fmt.Errorf("audit: checkpoint: %w", err)
	}
	hr := l.storeHashReader(ctx)
	h, err := tlog.TreeHash(size, hr)
	if err != nil {
		return nil, fmt.Errorf("audit: checkpoint: tree hash at %d: %w", size, err)
	}
	if last != nil {
		if err := checkExtends(last, size, h, hr); err != nil {
			return nil, err
		}
	}
	msg, err := note.Sign(&note.Note{Text: string(formatTree(size, h))}, l.signer)
	if err != nil {
		return nil, fmt.Errorf("audit: checkpoint: sign: %w", err)
	}
	at := l.now().UTC().Truncate(time.Microsecond)
	id, err := l.st.PutAuditCheckpoint(ctx, store.AuditCheckpoint{Size: size, Note: msg, CreatedAt: at})
	if err != nil {
		return nil, fmt.Errorf("audit: checkpoint: %w", err)
	}
	l.log.Info().Int64("size", size).Str("root", h.String()).Msg("audit checkpoint")
	return &Checkpoint{ID: id, Size: size, Hash: h, Note: string(msg), CreatedAt: at}, nil
}

// checkExtends checks that the tree (size, h) extends checkpoint last.
// last's signature is Verify's business; here its body is read as stored.
func checkExtends(last *store.AuditCheckpoint, size int64, h tlog.Hash, hr tlog.HashReader) error {
	body, err := noteBody(last.Note)
	if err != nil {
		return fmt.Errorf("audit: checkpoint: latest checkpoint %d: %w: %w", last.ID, ErrTampered, err)
	}
	oldSize, oldHash, err := parseTree(body)
	if err != nil {
		return fmt.Errorf("audit: checkpoint: latest checkpoint %d: %w: %w", last.ID, ErrTampered, err)
	}
	if oldSize > size {
		return fmt.Errorf("audit: checkpoint: %w: log has %d entries, checkpoint %d covers %d", ErrTampered, size, last.ID, oldSize)
	}
	if oldSize == 0 {
		return nil // every tree extends the empty one
	}
	proof, err := tlog.ProveTree(size, oldSize, hr)
	if err != nil {
		return fmt.Errorf("audit: checkpoint: consistency proof: %w", err)
	}
	if err := tlog.CheckTree(proof, size, h, oldSize, oldHash); err != nil {
		return fmt.Errorf("audit: checkpoint: %w: tree of %d entries does not extend checkpoint %d: %w", ErrTampered, size, last.ID, err)
	}
	return nil
}

// LatestCheckpoint returns the stored checkpoint with the largest size,
// opened with l's verifiers.
func (l *Log) LatestCheckpoint(ctx context.Context) (*Checkpoint, error) {
	if l.verifiers == nil {
		return nil, ErrNoVerifier
	}
	c, err := l.st.LatestAuditCheckpoint(ctx)
	if err != nil {
		return nil, fmt.Errorf("audit: latest checkpoint: %w", err)
	}
	return openCheckpoint(*c, l.verifiers)
}
