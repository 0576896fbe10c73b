package audit

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"dicomgate/store"
)

// Log is the audit log: it appends events to a [store.AuditStore] as the
// leaves of a Merkle tree and signs checkpoints of that tree. It is safe
// for concurrent use, and several Logs (several relays) may share one
// store.
type Log struct {
	st        store.AuditStore
	signer    note.Signer
	verifiers note.Verifiers // nil: Export cannot verify
	log       zerolog.Logger
	now       func() time.Time
	every     int64
}

// Options tunes a [Log]. The zero value is ready to use.
type Options struct {
	// CheckpointEvery makes Append write a checkpoint after every
	// CheckpointEvery-th entry (when the log's size becomes a multiple of
	// it). Default 1000; negative means only explicit checkpoints
	// ([Log.Checkpoint], which the relay also calls on a timer, and
	// [Log.Export]). 1 seals every entry as it is appended.
	CheckpointEvery int64
	// Verifiers are every relay key checkpoints may be signed with
	// (current and retired). Default: the signer's own key, when the
	// signer is a [*Signer].
	Verifiers note.Verifiers
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// DefaultCheckpointEvery is the default of [Options.CheckpointEvery].
const DefaultCheckpointEvery = 1000

// New returns the log kept in st, signing checkpoints with signer. log
// receives operational messages (indexes and action codes, never event
// contents); pass zerolog.Nop() for silence.
func New(st store.AuditStore, signer note.Signer, log zerolog.Logger, opts *Options) (*Log, error) {
	if st == nil || signer == nil {
		return nil, errors.New("audit: new: store and signer are required")
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	l := &Log{st: st, signer: signer, verifiers: o.Verifiers, log: log, now: o.Now, every: o.CheckpointEvery}
	if l.verifiers == nil {
		if s, ok := signer.(interface{ Verifier() note.Verifier }); ok {
			l.verifiers = note.VerifierList(s.Verifier())
		}
	}
	if l.now == nil {
		l.now = time.Now
	}
	if l.every == 0 {
		l.every = DefaultCheckpointEvery
	}
	return l, nil
}

// Append records ev at the next index and returns that index. It stamps
// ev.Time from the server clock, checks the event (an actor, an action of
// the vocabulary, JSON-encodable details: else [ErrInvalidEvent]) and
// stores its canonical encoding with the tree's new stored hashes in one
// transaction. When the new size is a multiple of
// [Options.CheckpointEvery] it then writes a checkpoint; a failure there
// is logged, not returned, since the event is recorded.
func (l *Log) Append(ctx context.Context, ev Event) (int64, error) {
	if err := ev.validate(); err != nil {
		return 0, err
	}
	ev.Time = l.now().UTC().Truncate(time.Microsecond)
	if _, err := encodeEntry(Entry{Event: ev}); err != nil { // fail before taking a transaction
		return 0, err
	}
	e, err := l.st.AppendAudit(ctx, func(n int64, hashes store.AuditHashReader) (store.AuditAppend, error) {
		data, err := encodeEntry(Entry{Index: n, Event: ev})
		if err != nil {
			return store.AuditAppend{}, err
		}
		stored, err := tlog.StoredHashes(n, data, hashReader(hashes))
		if err != nil {
			return store.AuditAppend{}, fmt.Errorf("audit: tree hashes: %w", err)
		}
		return store.AuditAppend{
			Entry: store.AuditEntry{Index: n, Time: ev.Time, Actor: ev.Actor, Action: string(ev.Action),
				Project: ev.Project, Study: ev.Study, Data: data},
			HashStart: tlog.StoredHashIndex(0, n),
			Hashes:    hashBytes(stored),
		}, nil
	})
	if err != nil {
		return 0, fmt.Errorf("audit: append %s: %w", ev.Action, err)
	}
	l.log.Debug().Int64("index", e.Index).Str("action", string(ev.Action)).Msg("audit event")
	if l.every > 0 && (e.Index+1)%l.every == 0 {
		if _, err := l.Checkpoint(ctx); err != nil {
			l.log.Error().Err(err).Int64("index", e.Index).Msg("audit checkpoint failed")
		}
	}
	return e.Index, nil
}

// hashReader adapts a store hash reader to tlog's.
func hashReader(r store.AuditHashReader) tlog.HashReader {
	return tlog.HashReaderFunc(func(ids []int64) ([]tlog.Hash, error) {
		bs, err := r(ids)
		if err != nil {
			return nil, err
		}
		return toHashes(bs)
	})
}

// storeHashReader reads stored hashes from l's store outside any
// transaction; they never change once written.
func (l *Log) storeHashReader(ctx context.Context) tlog.HashReader {
	return hashReader(func(ids []int64) ([][]byte, error) { return l.st.ReadAuditHashes(ctx, ids) })
}

// toHashes converts stored byte slices to tlog hashes.
func toHashes(bs [][]byte) ([]tlog.Hash, error) {
	hs := make([]tlog.Hash, len(bs))
	for i, b := range bs {
		if len(b) != tlog.HashSize {
			return nil, fmt.Errorf("audit: stored hash of %d bytes", len(b))
		}
		hs[i] = tlog.Hash(b)
	}
	return hs, nil
}

// hashBytes converts tlog hashes to byte slices for the store.
func hashBytes(hs []tlog.Hash) [][]byte {
	bs := make([][]byte, len(hs))
	for i := range hs {
		bs[i] = hs[i][:]
	}
	return bs
}

// Size returns the number of entries in the log.
func (l *Log) Size(ctx context.Context) (int64, error) {
	n, err := l.st.AuditSize(ctx)
	if err != nil {
		return 0, fmt.Errorf("audit: size: %w", err)
	}
	return n, nil
}
