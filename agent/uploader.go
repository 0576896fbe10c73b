package agent

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"dicomgate/transport"
)

// RelayUploader is the real [Uploader]: it sends sealed files to the relay
// over one shared transport.Conn, dialled on first use and dialled again
// after a connection failure. It is safe for concurrent use.
//
// Errors: a refusal by the relay (*transport.RejectedError) is a
// *[PermanentError], quarantining the file, except for the codes that say
// the relay or this agent (not the file) has a problem — internal,
// unavailable, unauthenticated, unsupported_version — which are retried
// like every network error.
type RelayUploader struct {
	log zerolog.Logger
	cfg transport.ClientConfig

	dial chan struct{} // a one-slot semaphore held while dialling

	mu   sync.Mutex
	conn *transport.Conn // +checklocks:mu
	// The last clock exchange with the relay (clock.go).
	clock     transport.ClockReading // +checklocks:mu
	haveClock bool                   // +checklocks:mu
	skewed    bool                   // +checklocks:mu
	// verdict is the last dial failure logged at error level.
	verdict string // +checklocks:mu
}

// NewRelayUploader returns an uploader dialling with cfg. No connection is
// made until the first upload.
func NewRelayUploader(log zerolog.Logger, cfg transport.ClientConfig) *RelayUploader {
	return &RelayUploader{log: log, cfg: cfg, dial: make(chan struct{}, 1)}
}

// Receipt is the relay's receipt as the agent stores it in the queue
// (JSON). The signature covers the transport's canonical encoding; see
// transport.Receipt.Verify.
type Receipt struct {
	// ID is the file id.
	ID string `json:"id"`
	// ObjectKey is where the relay stored the sealed file.
	ObjectKey string `json:"object_key"`
	// Size is the committed length in bytes.
	Size int64 `json:"size"`
	// SHA256 is the hex digest of the committed bytes.
	SHA256 string `json:"sha256"`
	// CommittedAt is when the relay committed the file.
	CommittedAt time.Time `json:"committed_at"`
	// RelayKeyID names the relay's signing key.
	RelayKeyID string `json:"relay_key_id"`
	// Signature is the relay's Ed25519 signature.
	Signature []byte `json:"signature"`
}

// Upload offers the sealed file of it (id, size, hash and signed manifest
// from the queue) and streams what the relay does not hold yet. It returns
// the receipt as JSON ([Receipt]).
func (u *RelayUploader) Upload(ctx context.Context, it *Item, spool io.ReaderAt) ([]byte, error) {
	if it.FileID == "" || len(it.SHA256) != 32 || len(it.Manifest) == 0 {
		return nil, Permanent("queue item has no sealed-file id, hash or manifest", nil)
	}
	offer := &transport.Offer{ID: it.FileID, Size: it.Size, SHA256: [32]byte(it.SHA256), Manifest: it.Manifest}
	c, err := u.connect(ctx)
	if err != nil {
		return nil, fmt.Errorf("agent: connect to relay: %w", err)
	}
	rec, err := c.Upload(ctx, offer, spool)
	if err != nil {
		var rej *transport.RejectedError
		switch {
		case errors.As(err, &rej) && !retryLater(rej.Code):
			return nil, Permanent("relay rejected the file ("+rej.Code+")", err)
		case errors.As(err, &rej), ctx.Err() != nil, errors.Is(err, transport.ErrRelayUnavailable):
		default:
			u.drop(c) // the connection may be dead: dial again next time
		}
		return nil, fmt.Errorf("agent: upload: %w", err)
	}
	out, err := json.Marshal(Receipt{ID: rec.ID, ObjectKey: rec.ObjectKey, Size: rec.Size,
		SHA256: hex.EncodeToString(rec.SHA256[:]), CommittedAt: rec.CommittedAt.UTC(),
		RelayKeyID: rec.RelayKeyID, Signature: rec.Signature})
	if err != nil {
		return nil, fmt.Errorf("agent: receipt: %w", err)
	}
	return out, nil
}

// Close closes the connection, if any. Uploads in flight fail with a
// retryable error.
func (u *RelayUploader) Close() error {
	u.mu.Lock()
	c := u.conn
	u.conn = nil
	u.mu.Unlock()
	if c != nil {
		return c.Close()
	}
	return nil
}

// connect returns the shared connection, dialling it if there is none.
// Only one dial runs at a time; the others wait for it (or ctx).
func (u *RelayUploader) connect(ctx context.Context) (*transport.Conn, error) {
	if c := u.current(); c != nil {
		return c, nil
	}
	select {
	case u.dial <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-u.dial }()
	if c := u.current(); c != nil {
		return c, nil
	}
	c, err := transport.Dial(ctx, u.cfg)
	if err != nil {
		u.dialFailed(err)
		return nil, err
	}
	u.mu.Lock()
	u.conn, u.verdict = c, ""
	u.mu.Unlock()
	u.log.Info().Str("relay", u.cfg.Addr).Str("protocol", string(c.Protocol())).Msg("connected to relay")
	u.measureClock(ctx, c)
	return c, nil
}

func (u *RelayUploader) current() *transport.Conn {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.conn
}

// drop forgets and closes c if it is still the shared connection.
func (u *RelayUploader) drop(c *transport.Conn) {
	u.mu.Lock()
	if u.conn != c {
		u.mu.Unlock()
		return
	}
	u.conn = nil
	u.mu.Unlock()
	c.Close()
}

// retryLater reports whether a relay refusal code means "not now" rather
// than "never this file".
func retryLater(code string) bool {
	switch code {
	case transport.CodeInternal, transport.CodeUnavailable, transport.CodeUnauthenticated, transport.CodeUnsupportedVersion:
		return true
	}
	return false
}

var _ Uploader = (*RelayUploader)(nil)
