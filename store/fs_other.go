//go:build !unix

package store

// isNotDir reports whether err says a path component is a file; other
// systems report that as not-exist already.
func isNotDir(error) bool { return false }
