package audit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Event is one thing that happened. It must hold no PHI: see the package
// documentation.
type Event struct {
	// Time is when the relay recorded the event, UTC to the microsecond.
	// [Log.Append] sets it from the server clock; a caller's value is
	// ignored.
	Time time.Time `json:"time"`
	// Actor is who acted: a user name, an agent ID, or "system". Required.
	Actor string `json:"actor"`
	// Action is what happened. Required, from the [Action] vocabulary.
	Action Action `json:"action"`
	// Project is the project concerned, if any.
	Project string `json:"project,omitempty"`
	// Study is the pseudonymous StudyInstanceUID concerned, if any.
	Study string `json:"study,omitempty"`
	// Object is the object concerned: a file ID, a policy ID and version,
	// an account name, an agent ID...
	Object string `json:"object,omitempty"`
	// IP is the client address, if any.
	IP string `json:"ip,omitempty"`
	// Reason is a short code or sentence: why a file was rejected, the
	// meaning of an electronic signature, why access was denied.
	Reason string `json:"reason,omitempty"`
	// Details carries structured extras, e.g. a manifest's anonymisation
	// report counts. Values must encode as JSON; they are stored in their
	// canonical form (keys sorted, numbers as written).
	Details map[string]any `json:"details,omitempty"`
}

// Entry is an [Event] at its index in the log.
type Entry struct {
	// Index is the entry's position, from 0.
	Index int64 `json:"index"`
	Event
}

// validate checks the fields Append requires.
func (e *Event) validate() error {
	if e.Actor == "" {
		return fmt.Errorf("%w: actor is required", ErrInvalidEvent)
	}
	if !e.Action.Valid() {
		return fmt.Errorf("%w: unknown action %q", ErrInvalidEvent, e.Action)
	}
	for _, s := range []string{e.Actor, e.Project, e.Study, e.Object, e.IP, e.Reason} {
		if !utf8.ValidString(s) || strings.ContainsFunc(s, unicode.IsControl) {
			return fmt.Errorf("%w: invalid UTF-8 or control character in a field", ErrInvalidEvent)
		}
	}
	return nil
}

// encodeEntry returns the canonical encoding of e, the Merkle leaf data:
// compact JSON with the fields in declaration order, Time in RFC 3339 UTC
// with up to microseconds, and Details normalised by one decode (object
// keys sorted, numbers kept as written). decodeEntry of the result and
// encodeEntry again give the same bytes.
func encodeEntry(e Entry) ([]byte, error) {
	e.Time = e.Time.UTC().Truncate(time.Microsecond)
	if len(e.Details) > 0 {
		raw, err := json.Marshal(e.Details)
		if err != nil {
			return nil, fmt.Errorf("%w: details: %v", ErrInvalidEvent, err)
		}
		var norm map[string]any
		if err := decodeJSON(raw, &norm); err != nil {
			return nil, fmt.Errorf("%w: details: %v", ErrInvalidEvent, err)
		}
		e.Details = norm
	} else {
		e.Details = nil
	}
	data, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidEvent, err)
	}
	return data, nil
}

// decodeEntry parses leaf data and checks that it is canonical: the exact
// bytes encodeEntry would write for the decoded entry.
func decodeEntry(data []byte) (Entry, error) {
	var e Entry
	if err := decodeJSON(data, &e); err != nil {
		return Entry{}, fmt.Errorf("audit: decode entry: %w", err)
	}
	again, err := encodeEntry(e)
	if err != nil {
		return Entry{}, fmt.Errorf("audit: decode entry: %w", err)
	}
	if !bytes.Equal(again, data) {
		return Entry{}, fmt.Errorf("audit: decode entry: not in canonical form")
	}
	return e, nil
}

// decodeJSON decodes one JSON value strictly: numbers as [json.Number],
// unknown fields and trailing data refused.
func decodeJSON(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("trailing data")
	}
	return nil
}
