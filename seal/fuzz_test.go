package seal

import (
	"bytes"
	"io"
	"path/filepath"
	"testing"
)

// FuzzReader feeds arbitrary bytes to NewReader with the identity of the
// committed vectors. It must never panic, must fail only with a package
// sentinel, and must never return more plaintext than the input could hold.
func FuzzReader(f *testing.F) {
	id, err := LoadIdentity(filepath.Join("testdata", "v1-basic.key"))
	if err != nil {
		f.Fatal(err)
	}
	for _, v := range vectors() {
		ct := readFile(f, filepath.Join("testdata", v.Name+".sealed"))
		f.Add(ct)
		f.Add(ct[:len(ct)/2])
		f.Add(append(bytes.Clone(ct), 0))
	}
	f.Add([]byte{})
	f.Add([]byte(magicPrefix + "\x01"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := NewReader(bytes.NewReader(data), id)
		if err != nil {
			if !isSentinel(err) {
				t.Fatalf("NewReader error without sentinel: %v", err)
			}
			return
		}
		pt, err := io.ReadAll(r)
		if err != nil && !isSentinel(err) {
			t.Fatalf("Read error without sentinel: %v", err)
		}
		if len(pt) > len(data) {
			t.Fatalf("%d bytes of plaintext from %d bytes of input", len(pt), len(data))
		}
	})
}
