package seal

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// testChunk is the small chunk size that keeps boundary cases cheap.
const testChunk = 64

// newTestIdentity returns a fresh identity or fails t.
func newTestIdentity(t testing.TB) *Identity {
	t.Helper()
	id, err := GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// sealBytes seals pt to rcpts and returns the file and its stats.
func sealBytes(t testing.TB, pt []byte, chunk int, rcpts ...*Recipient) ([]byte, Stats) {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, rcpts, WithChunkSize(chunk))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(pt); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), w.Stats()
}

// openBytes decrypts a sealed file completely, returning the first error
// from NewReader or Read.
func openBytes(ct []byte, ids ...*Identity) ([]byte, error) {
	r, err := NewReader(bytes.NewReader(ct), ids...)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

// pattern returns n deterministic bytes that differ between chunks.
func pattern(n int, salt byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7+i/testChunk) ^ salt
	}
	return b
}

// headerLen is the header size of a file with n recipients.
func headerLen(n int) int { return preambleSize + n*stanzaSize + macSize }

// splitChunks returns the sealed chunks of ct (header excluded).
func splitChunks(ct []byte, nRcpt, chunk int) [][]byte {
	body := ct[headerLen(nRcpt):]
	var out [][]byte
	for len(body) > chunk+tagSize {
		out = append(out, body[:chunk+tagSize])
		body = body[chunk+tagSize:]
	}
	return append(out, body)
}

// join concatenates a header and chunks into a new slice.
func join(hdr []byte, chunks ...[]byte) []byte {
	out := bytes.Clone(hdr)
	for _, c := range chunks {
		out = append(out, c...)
	}
	return out
}

// isSentinel reports whether err wraps one of the package's read sentinels.
func isSentinel(err error) bool {
	return errors.Is(err, ErrTampered) || errors.Is(err, ErrNoIdentityMatch) || errors.Is(err, ErrUnsupportedVersion)
}
