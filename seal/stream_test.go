package seal

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"testing"
	"testing/iotest"
)

func TestRoundTrip(t *testing.T) {
	id := newTestIdentity(t)
	tests := []struct {
		name  string
		size  int
		chunk int
	}{
		{"empty", 0, testChunk},
		{"one byte", 1, testChunk},
		{"chunk-1", testChunk - 1, testChunk},
		{"chunk", testChunk, testChunk},
		{"chunk+1", testChunk + 1, testChunk},
		{"two chunks", 2 * testChunk, testChunk},
		{"3 chunks + odd", 3*testChunk + 17, testChunk},
		{"default chunk, empty", 0, DefaultChunkSize},
		{"default chunk, 1 MiB + 1", DefaultChunkSize + 1, DefaultChunkSize},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pt := pattern(tt.size, 0)
			ct, st := sealBytes(t, pt, tt.chunk, id.Recipient())

			chunks := max(1, (tt.size+tt.chunk-1)/tt.chunk)
			if want := headerLen(1) + tt.size + chunks*tagSize; len(ct) != want {
				t.Errorf("ciphertext size %d, want %d", len(ct), want)
			}
			if st.PlaintextSize != int64(tt.size) || st.PlaintextSHA256 != sha256.Sum256(pt) {
				t.Errorf("plaintext stats wrong: size %d", st.PlaintextSize)
			}
			if st.CiphertextSize != int64(len(ct)) || st.CiphertextSHA256 != sha256.Sum256(ct) {
				t.Errorf("ciphertext stats wrong: size %d, want %d", st.CiphertextSize, len(ct))
			}

			got, err := openBytes(ct, id)
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			if !bytes.Equal(got, pt) {
				t.Fatalf("plaintext mismatch: got %d bytes, want %d", len(got), len(pt))
			}

			// Byte-at-a-time reads must yield the same plaintext.
			r, err := NewReader(iotest.OneByteReader(bytes.NewReader(ct)), id)
			if err != nil {
				t.Fatal(err)
			}
			got, err = io.ReadAll(iotest.OneByteReader(r))
			if err != nil || !bytes.Equal(got, pt) {
				t.Fatalf("one-byte reads: err %v, equal %v", err, bytes.Equal(got, pt))
			}
		})
	}
}

func TestWriteSplitting(t *testing.T) {
	id := newTestIdentity(t)
	pt := pattern(5*testChunk+3, 1)
	for _, piece := range []int{1, 7, testChunk - 1, testChunk, testChunk + 1, len(pt)} {
		t.Run(fmt.Sprint(piece), func(t *testing.T) {
			var buf bytes.Buffer
			w, err := NewWriter(&buf, []*Recipient{id.Recipient()}, WithChunkSize(testChunk))
			if err != nil {
				t.Fatal(err)
			}
			for p := pt; len(p) > 0; {
				n := min(piece, len(p))
				if k, err := w.Write(p[:n]); err != nil || k != n {
					t.Fatalf("write: %d, %v", k, err)
				}
				p = p[n:]
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatalf("second close: %v", err)
			}
			if _, err := w.Write([]byte{1}); err == nil {
				t.Fatal("write after close succeeded")
			}
			got, err := openBytes(buf.Bytes(), id)
			if err != nil || !bytes.Equal(got, pt) {
				t.Fatalf("open: %v, equal %v", err, bytes.Equal(got, pt))
			}
		})
	}
}

func TestRecipients(t *testing.T) {
	a, b, c, stranger := newTestIdentity(t), newTestIdentity(t), newTestIdentity(t), newTestIdentity(t)
	pt := pattern(2*testChunk+5, 2)
	ct, _ := sealBytes(t, pt, testChunk, a.Recipient(), b.Recipient(), c.Recipient(), b.Recipient())
	if got := (len(ct) - len(pt) - 3*tagSize); got != headerLen(3) {
		t.Fatalf("header is %d bytes, want %d (duplicate recipient not dropped?)", got, headerLen(3))
	}
	tests := []struct {
		name    string
		ids     []*Identity
		wantErr error
	}{
		{"first", []*Identity{a}, nil},
		{"second", []*Identity{b}, nil},
		{"third", []*Identity{c}, nil},
		{"stranger then recipient", []*Identity{stranger, c}, nil},
		{"nil then recipient", []*Identity{nil, a}, nil},
		{"stranger", []*Identity{stranger}, ErrNoIdentityMatch},
		{"no identities", nil, ErrNoIdentityMatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := openBytes(ct, tt.ids...)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr == nil && !bytes.Equal(got, pt) {
				t.Fatal("plaintext mismatch")
			}
		})
	}
}

func TestNewWriterErrors(t *testing.T) {
	id := newTestIdentity(t)
	tests := []struct {
		name  string
		rcpts []*Recipient
		opts  []Option
	}{
		{"no recipients", nil, nil},
		{"only nil recipients", []*Recipient{nil}, nil},
		{"chunk too small", []*Recipient{id.Recipient()}, []Option{WithChunkSize(MinChunkSize - 1)}},
		{"chunk too large", []*Recipient{id.Recipient()}, []Option{WithChunkSize(MaxChunkSize + 1)}},
		{"short random source", []*Recipient{id.Recipient()}, []Option{WithRand(bytes.NewReader(make([]byte, 10)))}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if _, err := NewWriter(&buf, tt.rcpts, tt.opts...); err == nil {
				t.Fatal("NewWriter succeeded")
			}
		})
	}
}

// failWriter fails every write after the first n bytes.
type failWriter struct{ n int }

// errFail is failWriter's error.
var errFail = errors.New("disk full")

func (f *failWriter) Write(p []byte) (int, error) {
	if len(p) > f.n {
		k := f.n
		f.n = 0
		return k, errFail
	}
	f.n -= len(p)
	return len(p), nil
}

func TestWriterDestinationError(t *testing.T) {
	id := newTestIdentity(t)
	w, err := NewWriter(&failWriter{n: headerLen(1) + 10}, []*Recipient{id.Recipient()}, WithChunkSize(testChunk))
	if err != nil {
		t.Fatal(err)
	}
	_, err = w.Write(pattern(3*testChunk, 0))
	if err == nil {
		t.Fatal("write to failing destination succeeded")
	}
	if err2 := w.Close(); err2 == nil {
		t.Fatal("close after failed write succeeded")
	}
}

func TestReaderErrorIsSticky(t *testing.T) {
	id := newTestIdentity(t)
	ct, _ := sealBytes(t, pattern(3*testChunk, 0), testChunk, id.Recipient())
	ct[len(ct)-1] ^= 1
	r, err := NewReader(bytes.NewReader(ct), id)
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(r)
	if !errors.Is(err, ErrTampered) {
		t.Fatalf("err = %v, want ErrTampered", err)
	}
	if n, err2 := r.Read(make([]byte, 10)); n != 0 || !errors.Is(err2, ErrTampered) {
		t.Fatalf("second read: %d, %v", n, err2)
	}
}
