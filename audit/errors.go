package audit

import (
	"errors"
	"fmt"
)

// Sentinel errors; test with [errors.Is].
var (
	// ErrInvalidEvent reports an event Append refuses: no actor, an action
	// outside the vocabulary, or details that do not encode as JSON.
	ErrInvalidEvent = errors.New("audit: invalid event")

	// ErrTampered reports a log that fails verification: the error is (or
	// wraps) a [*VerifyError] naming the first bad entry.
	ErrTampered = errors.New("audit: log fails verification")

	// ErrNoVerifier reports a Log built without verifier keys where one
	// is needed (Export verifies the log it exports).
	ErrNoVerifier = errors.New("audit: no verifier key")
)

// VerifyError is the first [Problem] verification found. It matches
// [ErrTampered] under [errors.Is].
type VerifyError struct {
	Problem
}

// Error implements error.
func (e *VerifyError) Error() string {
	return fmt.Sprintf("audit: log fails verification: %s", e.Problem.String())
}

// Is reports whether target is [ErrTampered].
func (e *VerifyError) Is(target error) bool { return target == ErrTampered }
