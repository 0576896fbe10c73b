package anonymize

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error returned by [Anonymizer.Anonymize] wraps one
// of them and means the file must be quarantined, never sent. Messages carry
// tags and reasons, never attribute values.
var (
	// ErrMalformed: the input is not a well-formed DICOM file.
	ErrMalformed = errors.New("malformed dicom")
	// ErrUnsupported: well-formed, but something the engine does not handle
	// (transfer syntax, VR, size).
	ErrUnsupported = errors.New("unsupported dicom")
	// ErrRejected: a policy filter or rule rejected the file.
	ErrRejected = errors.New("rejected by policy")
	// ErrBurnedIn: the file may carry burned-in identifying text in its
	// pixels and the policy does not allow it.
	ErrBurnedIn = errors.New("burned-in annotation")
)

// QuarantineError explains why a file was not anonymised. Reason is safe to
// show and store: it never contains an attribute value.
type QuarantineError struct {
	// Kind is one of the sentinel errors.
	Kind error
	// Reason is a short explanation without PHI.
	Reason string
}

func (e *QuarantineError) Error() string {
	return fmt.Sprintf("anonymize: %v: %s", e.Kind, e.Reason)
}

// Unwrap returns the sentinel.
func (e *QuarantineError) Unwrap() error { return e.Kind }

func quarantine(kind error, format string, args ...any) error {
	return &QuarantineError{Kind: kind, Reason: fmt.Sprintf(format, args...)}
}
