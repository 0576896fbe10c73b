package store

import (
	"fmt"
	"strings"
)

// MaxKeyLen is the longest object key accepted, in bytes (the S3 limit).
const MaxKeyLen = 1024

// CheckKey reports whether key is a valid object key. A valid key is
// non-empty, at most [MaxKeyLen] bytes, made only of the characters
// [A-Za-z0-9._/-], does not start or end with "/", contains no ".." and no
// empty or "." path segment. Every back end applies the same rule, so a key
// accepted by one is accepted by all. The error wraps [ErrInvalidKey]; it
// does not repeat the key, which callers should not log either if it could
// carry identifying data (keys built by dicomgate never do).
func CheckKey(key string) error {
	switch {
	case key == "":
		return fmt.Errorf("%w: empty", ErrInvalidKey)
	case len(key) > MaxKeyLen:
		return fmt.Errorf("%w: longer than %d bytes", ErrInvalidKey, MaxKeyLen)
	case strings.HasPrefix(key, "/"), strings.HasSuffix(key, "/"):
		return fmt.Errorf("%w: leading or trailing slash", ErrInvalidKey)
	case strings.Contains(key, ".."):
		return fmt.Errorf("%w: contains \"..\"", ErrInvalidKey)
	}
	for i := 0; i < len(key); i++ {
		if !keyChar(key[i]) {
			return fmt.Errorf("%w: character at offset %d not allowed", ErrInvalidKey, i)
		}
	}
	for seg := range strings.SplitSeq(key, "/") {
		if seg == "" || seg == "." {
			return fmt.Errorf("%w: empty or \".\" path segment", ErrInvalidKey)
		}
	}
	return nil
}

// keyChar reports whether c may appear in an object key.
func keyChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '.' || c == '_' || c == '/' || c == '-'
}

// checkPrefix reports whether prefix is usable for List: empty, or made of
// key characters without "..", a leading slash or "." / empty segments
// before its last segment.
func checkPrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	// A prefix ending in "/" is fine ("studies/"); check it as a key with a
	// placeholder last segment.
	if err := CheckKey(prefix + "x"); err != nil {
		return fmt.Errorf("prefix: %w", err)
	}
	return nil
}
