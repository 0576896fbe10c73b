package seal

import (
	"crypto/cipher"
	"crypto/hmac"
	"crypto/hpke"
	"errors"
	"fmt"
	"io"
)

var _ io.Reader = (*Reader)(nil)

// A Reader decrypts a sealed file. Memory use is bounded by the file's chunk
// size.
//
// Plaintext is released one authenticated chunk at a time, so a stream that
// was truncated or tampered with after some good chunks yields that good
// prefix before failing. Do not trust or act on the plaintext until Read has
// returned io.EOF: write it to a temporary file and use it only then.
type Reader struct {
	src     io.Reader
	aead    cipher.AEAD
	chunk   int    // plaintext chunk size
	in      []byte // ciphertext buffer, chunk+tagSize+1 (one byte of look-ahead)
	inLen   int    // bytes held in in
	out     []byte // plaintext buffer, chunk bytes
	plain   []byte // decrypted, not yet returned (a slice of out)
	counter uint64
	done    bool  // final chunk authenticated
	err     error // sticky
}

// NewReader reads and authenticates the header of a sealed file from src,
// unwraps the data key with whichever identity is a recipient, and returns a
// Reader of the plaintext. It fails with [ErrNoIdentityMatch] if no identity
// is a recipient, with [ErrTampered] if the header is malformed or fails
// authentication, and with [ErrUnsupportedVersion] for an unknown version.
func NewReader(src io.Reader, ids ...*Identity) (*Reader, error) {
	h, err := readHeader(src)
	if err != nil {
		return nil, err
	}
	dataKey, err := unwrapDataKey(h, ids)
	if err != nil {
		return nil, err
	}
	mac, err := headerMAC(dataKey, h.salt, h.body())
	if err != nil {
		return nil, err
	}
	if !hmac.Equal(mac[:], h.mac[:]) {
		return nil, fmt.Errorf("seal: header mac mismatch: %w", ErrTampered)
	}
	aead, err := newChunkAEAD(dataKey, h.marshal())
	if err != nil {
		return nil, err
	}
	chunk := int(h.chunkSize)
	return &Reader{
		src:   src,
		aead:  aead,
		chunk: chunk,
		in:    make([]byte, chunk+tagSize+1),
		out:   make([]byte, 0, chunk),
	}, nil
}

// unwrapDataKey opens the stanza addressed to one of ids.
func unwrapDataKey(h *header, ids []*Identity) ([]byte, error) {
	pre := h.preamble()
	_, kdf, aeadID := suite()
	matched := false
	for _, id := range ids {
		if id == nil {
			continue
		}
		for _, s := range h.stanzas {
			if s.keyID != id.rcpt.keyID {
				continue
			}
			matched = true
			rcv, err := hpke.NewRecipient(s.enc, id.priv, kdf, aeadID, []byte(labelWrap))
			if err != nil {
				continue
			}
			key, err := rcv.Open(stanzaAAD(pre, s.keyID), s.wrapped)
			if err != nil || len(key) != dataKeySize {
				continue
			}
			return key, nil
		}
	}
	if matched {
		return nil, fmt.Errorf("seal: recipient stanza does not open: %w", ErrTampered)
	}
	return nil, ErrNoIdentityMatch
}

// Read returns decrypted plaintext. It returns io.EOF only after the final
// chunk has been authenticated and the source is exhausted; any other error
// wraps [ErrTampered] (or is the source's read error) and is sticky.
func (r *Reader) Read(p []byte) (int, error) {
	for len(r.plain) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		if r.done {
			return 0, io.EOF
		}
		if err := r.next(); err != nil {
			r.err = err
		}
	}
	n := copy(p, r.plain)
	r.plain = r.plain[n:]
	return n, nil
}

// next reads, authenticates and decrypts one chunk into r.plain.
func (r *Reader) next() error {
	full := r.chunk + tagSize
	// Fill the buffer to one byte past a full chunk: if that byte exists,
	// the current chunk is not the last.
	n, err := io.ReadFull(r.src, r.in[r.inLen:])
	r.inLen += n
	switch {
	case err == nil:
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
	default:
		return fmt.Errorf("seal: read chunk %d: %w", r.counter, err)
	}
	last := r.inLen <= full
	size := min(r.inLen, full)
	switch {
	case r.inLen == 0:
		return fmt.Errorf("seal: final chunk missing after chunk %d: %w: %w", r.counter, ErrTampered, io.ErrUnexpectedEOF)
	case size < tagSize:
		return fmt.Errorf("seal: chunk %d: short chunk: %w: %w", r.counter, ErrTampered, io.ErrUnexpectedEOF)
	case size == tagSize && r.counter > 0:
		// Only an empty file has an empty final chunk.
		return fmt.Errorf("seal: chunk %d: empty final chunk: %w", r.counter, ErrTampered)
	}
	var nonce [nonceSize]byte
	chunkNonce(&nonce, r.counter, last)
	pt, err := r.aead.Open(r.out[:0], nonce[:], r.in[:size], nil)
	if err != nil {
		return r.authError(last, size)
	}
	r.counter++
	r.plain = pt
	if last {
		r.done = true
		r.inLen = 0
		return nil
	}
	r.in[0] = r.in[full]
	r.inLen = 1
	return nil
}

// authError classifies a chunk that failed authentication. If the stream
// ended on a chunk that opens as a non-final one, the file was truncated at
// a chunk boundary and the error also wraps io.ErrUnexpectedEOF.
func (r *Reader) authError(last bool, size int) error {
	if last {
		var nonce [nonceSize]byte
		chunkNonce(&nonce, r.counter, false)
		if _, err := r.aead.Open(r.out[:0], nonce[:], r.in[:size], nil); err == nil {
			r.plain = nil
			return fmt.Errorf("seal: final chunk missing after chunk %d: %w: %w", r.counter, ErrTampered, io.ErrUnexpectedEOF)
		}
	}
	return fmt.Errorf("seal: chunk %d: authentication failed: %w", r.counter, ErrTampered)
}
