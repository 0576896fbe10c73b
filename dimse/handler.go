package dimse

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/rs/zerolog"
)

// StoreRequest describes one instance arriving by C-STORE.
type StoreRequest struct {
	// CallingAE and CalledAE are the AE titles of the association.
	CallingAE, CalledAE string
	// RemoteAddr is the peer's network address.
	RemoteAddr string
	// SOPClassUID and SOPInstanceUID come from the C-STORE-RQ command
	// (AffectedSOPClassUID, AffectedSOPInstanceUID).
	SOPClassUID, SOPInstanceUID string
	// TransferSyntax is the syntax negotiated for the presentation context:
	// the data set stream is encoded in it.
	TransferSyntax string
	// MessageID is the DIMSE message id of the request.
	MessageID uint16
}

// MarshalZerologObject logs the request without PHI (UIDs and AE titles
// only).
func (r StoreRequest) MarshalZerologObject(e *zerolog.Event) {
	e.Str("calling_ae", r.CallingAE).Str("sop_class_uid", r.SOPClassUID).
		Str("sop_instance_uid", r.SOPInstanceUID).Str("transfer_syntax", r.TransferSyntax).
		Uint16("message_id", r.MessageID)
}

// Handler receives the instances a [Server] accepts.
type Handler interface {
	// Store consumes one instance: r yields the data set (no preamble, no
	// file meta group) in req.TransferSyntax, while it arrives over the
	// network, and returns io.EOF once the last fragment has been read. A
	// read error other than io.EOF (it wraps [ErrAborted]) means the
	// instance will never be complete and must be discarded.
	//
	// Store runs on the association's goroutine, and r reads the network
	// on the goroutine calling Read: one fragment after the other, without
	// a hand-off. r must not be used once Store has returned.
	//
	// Store must return only once the instance is durably stored or
	// queued: the C-STORE-RSP success is sent after it returns nil. An
	// error that wraps [ErrCannotUnderstand] answers 0xC000, a
	// *[StatusError] answers its status, any other error 0xA700 (out of
	// resources). Store must read r to the end before returning nil.
	// ctx is cancelled when the association ends or the server closes.
	Store(ctx context.Context, req StoreRequest, r io.Reader) error
}

// HandlerFunc adapts a function to [Handler].
type HandlerFunc func(ctx context.Context, req StoreRequest, r io.Reader) error

// Store calls f.
func (f HandlerFunc) Store(ctx context.Context, req StoreRequest, r io.Reader) error {
	return f(ctx, req, r)
}

// ErrCannotUnderstand is wrapped by handler errors meaning the instance is
// not acceptable as sent (status 0xC000, cannot understand).
var ErrCannotUnderstand = errors.New("dimse: cannot understand")

// StatusError is a DIMSE failure status, returned by an SCU call whose
// response was not a success or a warning, or by a [Handler] to choose the
// status of its C-STORE-RSP.
type StatusError struct {
	// Status is the DIMSE status code.
	Status uint16
	// Comment is the ErrorComment (at most 64 characters, no PHI).
	Comment string
	// Err is the cause, if any.
	Err error
}

// Error implements error.
func (e *StatusError) Error() string {
	s := fmt.Sprintf("dimse: status 0x%04x", e.Status)
	if e.Comment != "" {
		s += " (" + e.Comment + ")"
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the cause.
func (e *StatusError) Unwrap() error { return e.Err }

// statusFor maps a handler error to the C-STORE-RSP status and comment.
func statusFor(err error) (uint16, string) {
	var se *StatusError
	switch {
	case err == nil:
		return StatusSuccess, ""
	case errors.As(err, &se):
		return se.Status, se.Comment
	case errors.Is(err, ErrCannotUnderstand):
		return StatusCannotUnderstand, "instance not accepted"
	}
	return StatusOutOfResources, "instance not stored"
}

var (
	_ Handler = HandlerFunc(nil)
	_ error   = (*StatusError)(nil)
)
