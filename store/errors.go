package store

import "errors"

// Sentinel errors. Every back end wraps them so that callers can branch with
// [errors.Is]; see the package documentation for which call returns which.
var (
	// ErrNotExist reports that the object or record does not exist.
	ErrNotExist = errors.New("store: does not exist")

	// ErrInvalidKey reports an object key that fails [CheckKey].
	ErrInvalidKey = errors.New("store: invalid key")

	// ErrInvalidOffset reports a Get offset that is negative or beyond the
	// end of the object.
	ErrInvalidOffset = errors.New("store: invalid offset")

	// ErrSizeMismatch reports a Put whose reader yielded more or fewer bytes
	// than the size it was given. Nothing is stored in that case.
	ErrSizeMismatch = errors.New("store: size mismatch")

	// ErrConflict reports a record that clashes with one already stored: a
	// different file under the same (project, instance UID), a duplicate
	// enrolment token hash, or a WireGuard key or tunnel IP held by
	// another agent.
	ErrConflict = errors.New("store: conflict")

	// ErrTokenInvalid reports an enrolment token that is unknown, already
	// used, or expired. The three cases are deliberately indistinguishable.
	ErrTokenInvalid = errors.New("store: enrolment token invalid")

	// ErrInvalidRecord reports a record with a missing required field.
	ErrInvalidRecord = errors.New("store: invalid record")
)
