package seal

import (
	"bytes"
	"io"
	"testing"
)

// benchSize is the plaintext size sealed or opened per benchmark iteration.
const benchSize = 8 << 20

func BenchmarkSeal(b *testing.B) {
	id := newTestIdentity(b)
	pt := pattern(benchSize, 0)
	rcpts := []*Recipient{id.Recipient()}
	b.SetBytes(benchSize)
	for b.Loop() {
		w, err := NewWriter(io.Discard, rcpts)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := w.Write(pt); err != nil {
			b.Fatal(err)
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpen(b *testing.B) {
	id := newTestIdentity(b)
	ct, _ := sealBytes(b, pattern(benchSize, 0), DefaultChunkSize, id.Recipient())
	b.SetBytes(benchSize)
	for b.Loop() {
		r, err := NewReader(bytes.NewReader(ct), id)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, r); err != nil {
			b.Fatal(err)
		}
	}
}
