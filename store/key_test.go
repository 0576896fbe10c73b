package store

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckKey(t *testing.T) {
	tests := []struct {
		key string
		ok  bool
	}{
		{"a", true},
		{"trial-a/2.25.1/obj_1.sealed", true},
		{".hidden", true},
		{strings.Repeat("k", MaxKeyLen), true},
		{"", false},
		{strings.Repeat("k", MaxKeyLen+1), false},
		{"/a", false},
		{"a/", false},
		{"a//b", false},
		{"a/./b", false},
		{".", false},
		{"..", false},
		{"a/../b", false},
		{"a..b", false},
		{"a b", false},
		{"a+b", false},
		{"a~b", false},
		{"a\x00", false},
		{"ü", false},
	}
	for _, tc := range tests {
		err := CheckKey(tc.key)
		if tc.ok != (err == nil) {
			t.Errorf("CheckKey(%q) = %v, want ok=%v", tc.key, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidKey) {
			t.Errorf("CheckKey(%q) = %v, not ErrInvalidKey", tc.key, err)
		}
	}
}
