package agent

import (
	"time"

	"github.com/rs/zerolog"
)

// State is where an [Item] is in the pipeline.
type State string

// Item states, in pipeline order. Committed and Quarantined are final.
const (
	// StateSeen: the file was found and queued; nothing done yet.
	StateSeen State = "seen"
	// StateAnonymised: the file was anonymised and sealed into a temporary
	// spool file; its file id and study key are known. Not yet durable in
	// the spool, so it restarts at processing.
	StateAnonymised State = "anonymised"
	// StateSealed: the sealed file is durable in the spool; next is upload.
	StateSealed State = "sealed"
	// StateSent: the relay answered with a receipt; next is the source
	// disposition and removing the spool file.
	StateSent State = "sent"
	// StateCommitted: done.
	StateCommitted State = "committed"
	// StateQuarantined: never sent; see the reason.
	StateQuarantined State = "quarantined"
)

// States returns every state in pipeline order.
func States() []State {
	return []State{StateSeen, StateAnonymised, StateSealed, StateSent, StateCommitted, StateQuarantined}
}

// Final reports whether no further transition leaves s.
func (s State) Final() bool { return s == StateCommitted || s == StateQuarantined }

// Item is one file in the queue.
type Item struct {
	// ID is the queue id, the only name of the item in logs.
	ID int64
	// State is the item's state.
	State State
	// SourcePath is the file as found. It may contain PHI: never log it.
	// For a C-STORE instance held in the SCP's intake journal it names
	// the journal record instead (see openSource), not a file.
	SourcePath string
	// SourceSize and SourceModTime are the source's identity with
	// SourcePath: the same path with another size or time is another item.
	SourceSize    int64
	SourceModTime time.Time
	// Root is the watched folder the file came from, "" for `send`.
	Root string
	// Attempts counts failed attempts at the current stage.
	Attempts int
	// NextAttemptAt is when the item may be claimed again.
	NextAttemptAt time.Time
	// CreatedAt and UpdatedAt are the times of the first and latest
	// transition.
	CreatedAt, UpdatedAt time.Time
	// SpoolPath is the sealed file, once sealed.
	SpoolPath string
	// FileID is the sealed file's id, once anonymised.
	FileID string
	// StudyKey is the pseudonymous study UID, once anonymised.
	StudyKey string
	// Size and SHA256 describe the sealed file, once anonymised.
	Size   int64
	SHA256 []byte
	// Manifest is the signed manifest, once anonymised.
	Manifest []byte
	// Receipt is the relay's receipt, once sent.
	Receipt []byte
	// Reason is the quarantine reason, or the last retryable error. It
	// never holds PHI.
	Reason string
}

// MarshalZerologObject logs the item's id, state and attempts: never its
// path.
func (it *Item) MarshalZerologObject(e *zerolog.Event) {
	e.Int64("id", it.ID).Str("state", string(it.State)).Int("attempts", it.Attempts)
}

var _ zerolog.LogObjectMarshaler = (*Item)(nil)
