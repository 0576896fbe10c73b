package storetest

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"testing"

	"dicomgate/store"
)

// RunParts runs the PartStore conformance suite. newStore must return a
// new, empty store each time it is called, whose PartSize is the same for
// every object up to 100 MiB (objects of two to three parts are sent);
// reopen returns another store on the same storage (a relay restarted).
func RunParts(t *testing.T, newStore func(t *testing.T) (s, reopen store.PartStore)) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s, reopen store.PartStore)
	}{
		{"Assemble", testPartsAssemble},
		{"Abort", testPartsAbort},
		{"FailedPartAgain", testPartsFailedAgain},
		{"Replace", testPartsReplace},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, reopen := newStore(t)
			tc.fn(t, s, reopen)
		})
	}
}

// randomBytes returns n random bytes.
func randomBytes(t *testing.T, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// putParts sends data from part first on (parts of ps bytes) and returns
// the parts sent.
func putParts(t *testing.T, s store.PartStore, key, id string, data []byte, first int, ps int64) []store.Part {
	t.Helper()
	var parts []store.Part
	for n, off := first, int64(first-1)*ps; off < int64(len(data)); n, off = n+1, off+ps {
		end := min(off+ps, int64(len(data)))
		p, err := s.PutPart(t.Context(), key, id, store.Part{N: n, Size: end - off}, bytes.NewReader(data[off:end]))
		if err != nil {
			t.Fatalf("PutPart %d: %v", n, err)
		}
		if p.ETag == "" || p.N != n || p.Size != end-off {
			t.Fatalf("PutPart %d returned %+v", n, p)
		}
		parts = append(parts, p)
	}
	return parts
}

// testPartsAssemble: parts sent over two store instances (a restart in
// between) make one object, invisible until completed.
func testPartsAssemble(t *testing.T, s, reopen store.PartStore) {
	ctx := t.Context()
	ps := s.PartSize(100 << 20)
	if ps < 5<<20 || s.PartSize(1) != ps {
		t.Fatalf("PartSize = %d (%d for 1 byte), want one size, at least 5 MiB", ps, s.PartSize(1))
	}
	data := randomBytes(t, int(2*ps+12345))
	const key = "assembled/obj"
	id, err := s.BeginParts(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	parts := putParts(t, s, key, id, data[:ps], 1, ps)
	if _, err := s.Stat(ctx, key); !errors.Is(err, store.ErrNotExist) {
		t.Fatalf("Stat before CompleteParts: %v, want ErrNotExist", err)
	}
	parts = append(parts, putParts(t, reopen, key, id, data, 2, ps)...)
	if len(parts) != 3 {
		t.Fatalf("%d parts, want 3", len(parts))
	}
	if err := reopen.CompleteParts(ctx, key, id, parts); err != nil {
		t.Fatalf("CompleteParts: %v", err)
	}
	if got := get(t, s, key, 0); !bytes.Equal(got, data) {
		t.Fatalf("assembled object differs (%d bytes, want %d)", len(got), len(data))
	}
	if got := get(t, s, key, ps+1); !bytes.Equal(got, data[ps+1:]) {
		t.Fatal("assembled object read from an offset differs")
	}
}

// testPartsAbort: an aborted upload leaves nothing, cannot be completed,
// and aborting it again is not an error.
func testPartsAbort(t *testing.T, s, _ store.PartStore) {
	ctx := t.Context()
	const key = "aborted/obj"
	ps := s.PartSize(1)
	data := randomBytes(t, int(ps)+1000)
	id, err := s.BeginParts(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	parts := putParts(t, s, key, id, data, 1, ps)
	if err := s.CheckParts(ctx, key, id); err != nil {
		t.Fatalf("CheckParts of an open upload: %v", err)
	}
	if err := s.AbortParts(ctx, key, id); err != nil {
		t.Fatalf("AbortParts: %v", err)
	}
	if err := s.AbortParts(ctx, key, id); err != nil {
		t.Fatalf("AbortParts again: %v", err)
	}
	if err := s.CheckParts(ctx, key, id); !errors.Is(err, store.ErrNotExist) {
		t.Fatalf("CheckParts of an aborted upload: %v, want ErrNotExist", err)
	}
	if err := s.CompleteParts(ctx, key, id, parts); !errors.Is(err, store.ErrNotExist) {
		t.Fatalf("CompleteParts of an aborted upload: %v, want ErrNotExist", err)
	}
	if _, err := s.PutPart(ctx, key, id, store.Part{N: 2, Size: 1}, bytes.NewReader([]byte{1})); !errors.Is(err, store.ErrNotExist) {
		t.Fatalf("PutPart to an aborted upload: %v, want ErrNotExist", err)
	}
	if _, err := s.Stat(ctx, key); !errors.Is(err, store.ErrNotExist) {
		t.Fatalf("Stat after AbortParts: %v, want ErrNotExist", err)
	}
	if k := keys(t, s, ""); len(k) != 0 {
		t.Fatalf("objects after AbortParts: %v", k)
	}
}

// failAfter yields n bytes of data, then fails with errCut.
type failAfter struct {
	data []byte
	n    int
}

var errCut = errors.New("storetest: stream cut")

func (f *failAfter) Read(p []byte) (int, error) {
	if f.n == 0 {
		return 0, errCut
	}
	k := copy(p[:min(len(p), f.n)], f.data)
	f.data, f.n = f.data[k:], f.n-k
	return k, nil
}

// testPartsFailedAgain: a part whose reader fails or ends early is not
// stored, the error names the reader's failure, and the same part sent
// again completes the object.
func testPartsFailedAgain(t *testing.T, s, _ store.PartStore) {
	ctx := t.Context()
	const key = "failed/obj"
	ps := s.PartSize(1)
	data := randomBytes(t, int(ps)+100)
	id, err := s.BeginParts(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	first := putParts(t, s, key, id, data[:ps], 1, ps)
	_, err = s.PutPart(ctx, key, id, store.Part{N: 2, Size: 100}, &failAfter{data: data[ps:], n: 40})
	if !errors.Is(err, errCut) {
		t.Fatalf("PutPart with a failing reader: %v, want the reader's error", err)
	}
	_, err = s.PutPart(ctx, key, id, store.Part{N: 2, Size: 100}, bytes.NewReader(data[ps:ps+60]))
	if !errors.Is(err, store.ErrSizeMismatch) && !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("PutPart with a short reader: %v, want ErrSizeMismatch", err)
	}
	last := putParts(t, s, key, id, data, 2, ps)
	if err := s.CompleteParts(ctx, key, id, append(first, last...)); err != nil {
		t.Fatalf("CompleteParts: %v", err)
	}
	if got := get(t, s, key, 0); !bytes.Equal(got, data) {
		t.Fatal("object differs after a part was sent again")
	}
}

// testPartsReplace: completing over an existing object replaces it.
func testPartsReplace(t *testing.T, s, _ store.PartStore) {
	ctx := t.Context()
	const key = "replaced/obj"
	put(t, s, key, []byte("old"))
	data := randomBytes(t, 1000)
	id, err := s.BeginParts(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	parts := putParts(t, s, key, id, data, 1, s.PartSize(1))
	if got := get(t, s, key, 0); string(got) != "old" {
		t.Fatalf("object before CompleteParts = %q, want the old one", got)
	}
	if err := s.CompleteParts(ctx, key, id, parts); err != nil {
		t.Fatal(err)
	}
	if got := get(t, s, key, 0); !bytes.Equal(got, data) {
		t.Fatal("object not replaced")
	}
}
