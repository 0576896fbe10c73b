package seal

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"
)

// tamperFixture is a 4-chunk file sealed to a and b, opened with a, plus a
// second file of the same size sealed to the same recipients.
type tamperFixture struct {
	a, b   *Identity
	pt     []byte
	ct     []byte
	hdr    []byte
	chunks [][]byte
	other  []byte
}

func newTamperFixture(t *testing.T) *tamperFixture {
	t.Helper()
	f := &tamperFixture{a: newTestIdentity(t), b: newTestIdentity(t)}
	f.pt = pattern(3*testChunk+17, 3)
	f.ct, _ = sealBytes(t, f.pt, testChunk, f.a.Recipient(), f.b.Recipient())
	f.hdr = f.ct[:headerLen(2)]
	f.chunks = splitChunks(f.ct, 2, testChunk)
	if len(f.chunks) != 4 {
		t.Fatalf("fixture has %d chunks, want 4", len(f.chunks))
	}
	f.other, _ = sealBytes(t, f.pt, testChunk, f.a.Recipient(), f.b.Recipient())
	for _, id := range []*Identity{f.a, f.b} {
		if got, err := openBytes(f.ct, id); err != nil || !bytes.Equal(got, f.pt) {
			t.Fatalf("untampered fixture does not open: %v", err)
		}
	}
	return f
}

// flip returns a copy of b with byte i inverted.
func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 0xff
	return c
}

func TestTamperHeader(t *testing.T) {
	f := newTamperFixture(t)
	versionOff := len(magicPrefix)
	aKeyID := [2]int{preambleSize, preambleSize + keyIDSize} // a's stanza comes first
	for i := range f.hdr {
		want := ErrTampered
		switch {
		case i == versionOff:
			want = ErrUnsupportedVersion
		case i >= aKeyID[0] && i < aKeyID[1]:
			want = ErrNoIdentityMatch // a's key ID no longer names a
		}
		_, err := openBytes(flip(f.ct, i), f.a)
		if !errors.Is(err, want) {
			t.Fatalf("flip header byte %d: err = %v, want %v", i, err, want)
		}
	}
}

func TestTamperChunks(t *testing.T) {
	f := newTamperFixture(t)
	for i := len(f.hdr); i < len(f.ct); i++ {
		_, err := openBytes(flip(f.ct, i), f.a)
		if !errors.Is(err, ErrTampered) {
			t.Fatalf("flip payload byte %d: err = %v, want ErrTampered", i, err)
		}
	}
}

func TestTruncate(t *testing.T) {
	f := newTamperFixture(t)
	boundaries := map[int]bool{}
	off := len(f.hdr)
	for _, c := range f.chunks[:len(f.chunks)-1] {
		boundaries[off] = true
		off += len(c)
	}
	for n := 0; n < len(f.ct); n++ {
		got, err := openBytes(f.ct[:n], f.a)
		if !errors.Is(err, ErrTampered) {
			t.Fatalf("truncate to %d: err = %v, want ErrTampered", n, err)
		}
		if boundaries[n] && !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("truncate at chunk boundary %d: err = %v, want io.ErrUnexpectedEOF too", n, err)
		}
		if !bytes.HasPrefix(f.pt, got) {
			t.Fatalf("truncate to %d: released plaintext is not a prefix", n)
		}
	}
}

func TestReorderAndSplice(t *testing.T) {
	f := newTamperFixture(t)
	c := f.chunks
	oc := splitChunks(f.other, 2, testChunk)
	otherHdr := f.other[:headerLen(2)]
	tests := []struct {
		name string
		file []byte
	}{
		{"drop chunk 0", join(f.hdr, c[1], c[2], c[3])},
		{"drop chunk 1", join(f.hdr, c[0], c[2], c[3])},
		{"drop chunk 2", join(f.hdr, c[0], c[1], c[3])},
		{"drop final chunk", join(f.hdr, c[0], c[1], c[2])},
		{"drop all chunks", join(f.hdr)},
		{"swap chunks 0 and 1", join(f.hdr, c[1], c[0], c[2], c[3])},
		{"swap chunks 1 and 2", join(f.hdr, c[0], c[2], c[1], c[3])},
		{"swap chunks 2 and final", join(f.hdr, c[0], c[1], c[3], c[2])},
		{"duplicate chunk 0", join(f.hdr, c[0], c[0], c[1], c[2], c[3])},
		{"duplicate chunk 1", join(f.hdr, c[0], c[1], c[1], c[2], c[3])},
		{"duplicate final chunk", join(f.hdr, c[0], c[1], c[2], c[3], c[3])},
		{"splice chunk 0 from other file", join(f.hdr, oc[0], c[1], c[2], c[3])},
		{"splice chunk 2 from other file", join(f.hdr, c[0], c[1], oc[2], c[3])},
		{"splice final chunk from other file", join(f.hdr, c[0], c[1], c[2], oc[3])},
		{"header from other file", join(otherHdr, c...)},
		{"append one byte", join(f.ct, []byte{0})},
		{"append a tag's worth", join(f.ct, make([]byte, tagSize))},
		{"append a full chunk of garbage", join(f.ct, make([]byte, testChunk+tagSize))},
		{"append other file's final chunk", join(f.ct, oc[3])},
		{"append a second header", join(f.ct, f.hdr)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := openBytes(tt.file, f.a)
			if !errors.Is(err, ErrTampered) {
				t.Fatalf("err = %v, want ErrTampered", err)
			}
		})
	}
}

func TestTruncatedHeader(t *testing.T) {
	f := newTamperFixture(t)
	for _, n := range []int{0, 1, preambleSize - 1, preambleSize, len(f.hdr) - 1} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			_, err := NewReader(bytes.NewReader(f.ct[:n]), f.a)
			if !errors.Is(err, ErrTampered) {
				t.Fatalf("err = %v, want ErrTampered", err)
			}
		})
	}
}
