package agent

import "fmt"

// PermanentError is an error that retrying cannot fix, such as a file that
// cannot be parsed or fully anonymised. A [Processor] or [Uploader]
// returning one (anywhere in the error chain, see errors.As) has the item
// quarantined instead of retried.
type PermanentError struct {
	// Reason says what is wrong, for the quarantine reason file. It must
	// not contain PHI.
	Reason string
	// Err is the underlying error, if any. Its message must not contain PHI
	// either: it is written to the reason file too.
	Err error
}

// Permanent returns a *PermanentError with the given reason wrapping err.
func Permanent(reason string, err error) *PermanentError {
	return &PermanentError{Reason: reason, Err: err}
}

// Error returns the reason and the underlying error.
func (e *PermanentError) Error() string {
	if e.Err == nil {
		return "agent: permanent: " + e.Reason
	}
	return fmt.Sprintf("agent: permanent: %s: %v", e.Reason, e.Err)
}

// Unwrap returns the underlying error.
func (e *PermanentError) Unwrap() error { return e.Err }
