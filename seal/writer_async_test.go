package seal

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"runtime"
	"testing"
	"testing/cryptotest"
	"time"
)

// sealWith seals pt as generateVector does (all randomness from seed), the
// chunks after the first asyncAt written by the Writer's goroutine, in
// writes of at most piece bytes.
func sealWith(t *testing.T, pt []byte, asyncAt uint64, piece int) ([]byte, Stats, *Identity) {
	t.Helper()
	cryptotest.SetGlobalRandom(t, 7)
	var seed [32]byte
	seed[0] = 7
	rnd := rand.NewChaCha8(seed)
	id, err := generateIdentity(rnd)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w, err := NewWriter(&buf, []*Recipient{id.Recipient()}, WithChunkSize(testChunk), WithRand(rnd))
	if err != nil {
		t.Fatal(err)
	}
	w.asyncAt = asyncAt
	for p := pt; len(p) > 0; {
		n := min(piece, len(p))
		if _, err := w.Write(p[:n]); err != nil {
			t.Fatal(err)
		}
		p = p[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), w.Stats(), id
}

// TestWriterAsync: a long file sealed with its chunks written by the
// Writer's goroutine is byte for byte the file the Writer writes itself,
// with the same stats, and opens to the plaintext.
func TestWriterAsync(t *testing.T) {
	pt := pattern(100*testChunk+13, 3)
	want, wantStats, _ := sealWith(t, pt, ^uint64(0), len(pt))
	for _, piece := range []int{1, 37, testChunk, 5 * testChunk, len(pt)} {
		got, st, id := sealWith(t, pt, asyncAfter, piece)
		if !bytes.Equal(got, want) {
			t.Fatalf("writes of %d: sealed file differs from the one written synchronously", piece)
		}
		if st != wantStats {
			t.Fatalf("writes of %d: stats %+v, want %+v", piece, st, wantStats)
		}
		if st.CiphertextSize != int64(len(got)) || st.CiphertextSHA256 != sha256.Sum256(got) || st.PlaintextSHA256 != sha256.Sum256(pt) {
			t.Fatalf("stats do not describe the file: %+v", st)
		}
		back, err := openBytes(got, id)
		if err != nil || !bytes.Equal(back, pt) {
			t.Fatalf("open: %v", err)
		}
	}
}

// goroutines waits for the goroutine count to come back to n.
func goroutines(t *testing.T, n int) {
	t.Helper()
	for i := 0; runtime.NumGoroutine() > n; i++ {
		if i == 200 {
			t.Fatalf("%d goroutines, want %d: the Writer's goroutine is left", runtime.NumGoroutine(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestWriterAsyncErrors: a destination failing while the goroutine writes
// fails a later Write or Close with its error; Abort stops a Writer that
// is not closed; neither leaves the goroutine running.
func TestWriterAsyncErrors(t *testing.T) {
	id := newTestIdentity(t)
	t.Run("destination", func(t *testing.T) {
		base := runtime.NumGoroutine()
		w, err := NewWriter(&failWriter{n: headerLen(1) + 20*(testChunk+tagSize)}, []*Recipient{id.Recipient()}, WithChunkSize(testChunk))
		if err != nil {
			t.Fatal(err)
		}
		var werr error
		for i := 0; i < 200 && werr == nil; i++ {
			_, werr = w.Write(pattern(testChunk, byte(i)))
		}
		cerr := w.Close()
		if !errors.Is(werr, errFail) && !errors.Is(cerr, errFail) {
			t.Fatalf("write: %v, close: %v; want the destination's error", werr, cerr)
		}
		if cerr == nil {
			t.Fatal("close after a failed write succeeded")
		}
		goroutines(t, base)
	})
	t.Run("abort", func(t *testing.T) {
		base := runtime.NumGoroutine()
		w, err := NewWriter(io.Discard, []*Recipient{id.Recipient()}, WithChunkSize(testChunk))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(pattern(50*testChunk, 1)); err != nil {
			t.Fatal(err)
		}
		if w.async == nil {
			t.Fatal("no goroutine after 50 chunks")
		}
		w.Abort()
		goroutines(t, base)
		if err := w.Close(); !errors.Is(err, errAborted) {
			t.Fatalf("close after abort: %v", err)
		}
		if _, err := w.Write([]byte{1}); err == nil {
			t.Fatal("write after abort succeeded")
		}
		w.Abort() // again: nothing
	})
}
