package transport

import (
	"errors"
	"fmt"
)

// Error codes sent in Error frames. The relay's Handler may use its own codes
// too (snake_case, no PHI).
const (
	// CodeInternal: the relay failed; the agent retries later.
	CodeInternal = "internal"
	// CodeUnavailable: the relay is overloaded or shutting down; retry later.
	CodeUnavailable = "unavailable"
	// CodeUnauthenticated: an upload without a verified agent certificate.
	CodeUnauthenticated = "unauthenticated"
	// CodeBadRequest: a malformed or unexpected frame.
	CodeBadRequest = "bad_request"
	// CodeFrameTooLarge: a frame above MaxFrameSize.
	CodeFrameTooLarge = "frame_too_large"
	// CodeUnsupportedVersion: the Hello named a protocol version the relay lacks.
	CodeUnsupportedVersion = "unsupported_version"
	// CodeSizeMismatch: the agent sent more or fewer bytes than offered.
	CodeSizeMismatch = "size_mismatch"
	// CodeHashMismatch: the bytes do not hash to the offered SHA-256.
	CodeHashMismatch = "hash_mismatch"
	// CodeEnrolmentRefused: the token is unknown, used or expired, or the proof
	// of key possession failed.
	CodeEnrolmentRefused = "enrolment_refused"
	// CodeForbidden: the relay's policy refuses this file or agent.
	CodeForbidden = "forbidden"
)

// RejectedError is a refusal by the remote side: a code and a fixed message,
// never PHI. A Handler returns one to have it sent to the agent as is; the
// client returns one from Upload and Enrol for permanent refusals, which the
// agent quarantines instead of retrying.
type RejectedError struct {
	// Code is a short snake_case reason, one of the Code constants or the
	// relay's own.
	Code string
	// Message is fixed human-readable text; it must not contain PHI.
	Message string
}

// Error implements error.
func (e *RejectedError) Error() string {
	if e.Message == "" {
		return "transport: rejected: " + e.Code
	}
	return fmt.Sprintf("transport: rejected: %s: %s", e.Code, e.Message)
}

// ErrRelayUnavailable is wrapped by errors from Error frames with code
// CodeInternal or CodeUnavailable: the relay could not take the file now.
var ErrRelayUnavailable = errors.New("transport: relay temporarily unavailable")

// StorageFullMessage is the message of the refusal a relay sends when its
// storage (staging folder, object store or database) is full. It goes with
// code CodeUnavailable, so that every agent, of any version, retries it;
// this package's clients recognise the pair and return an error wrapping
// both [ErrRelayUnavailable] and [ErrRelayStorageFull].
const StorageFullMessage = "relay storage full, retry later"

// ErrRelayStorageFull is wrapped by the error of an upload the relay
// refused because its storage is full: nothing of it was committed, and
// it succeeds once the relay has space again.
var ErrRelayStorageFull = errors.New("transport: relay storage full")

// RejectStorageFull returns the refusal a Handler sends when its storage
// is full (see [StorageFullMessage]).
func RejectStorageFull() *RejectedError {
	return &RejectedError{Code: CodeUnavailable, Message: StorageFullMessage}
}

// Retryable reports whether an error from Upload, Dial or Enrol is worth
// retrying after a back-off: everything except a *RejectedError.
func Retryable(err error) bool {
	if err == nil {
		return false
	}
	var rej *RejectedError
	return !errors.As(err, &rej)
}

// remoteError turns an Error frame into the client-side error.
func remoteError(e *RejectedError) error {
	if e.Code == CodeUnavailable && e.Message == StorageFullMessage {
		return fmt.Errorf("%w (%s): %w", ErrRelayUnavailable, e.Code, ErrRelayStorageFull)
	}
	if e.Code == CodeInternal || e.Code == CodeUnavailable {
		return fmt.Errorf("%w (%s)", ErrRelayUnavailable, e.Code)
	}
	return e
}
