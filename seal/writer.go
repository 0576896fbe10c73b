package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hpke"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
)

var _ io.WriteCloser = (*Writer)(nil)

// Stats describes a sealed file after [Writer.Close]: the size and SHA-256
// of the plaintext written and of the ciphertext produced, so callers need
// not hash the data again for the manifest.
type Stats struct {
	// PlaintextSize is the number of plaintext bytes written.
	PlaintextSize int64
	// PlaintextSHA256 is the SHA-256 of the plaintext.
	PlaintextSHA256 [sha256.Size]byte
	// CiphertextSize is the number of bytes written to the destination,
	// header included.
	CiphertextSize int64
	// CiphertextSHA256 is the SHA-256 of everything written to the
	// destination.
	CiphertextSHA256 [sha256.Size]byte
}

// A Writer encrypts a stream into the sealed-file format. Memory use is
// bounded by the chunk size. Close must be called to write the final chunk;
// a file without it is rejected by [Reader] as truncated.
type Writer struct {
	dst     io.Writer
	aead    cipher.AEAD
	buf     []byte // plaintext of the pending chunk, sealed in place
	chunk   int    // plaintext bytes per chunk
	pooled  *[]byte
	counter uint64
	ptHash  hash.Hash
	ctHash  hash.Hash
	stats   Stats
	err     error // sticky
	closed  bool
	async   *emitter // writes the chunks after the first asyncAt; nil before
	asyncAt uint64   // asyncAfter (tests change it)
}

// errAborted is the error of a Writer after Abort.
var errAborted = errors.New("seal: writer aborted")

// NewWriter writes a sealed-file header to dst, wrapping a fresh random data
// key to every recipient, and returns a Writer for the plaintext. At least
// one recipient is required. Recipients given twice are sealed to once.
func NewWriter(dst io.Writer, recipients []*Recipient, opts ...Option) (*Writer, error) {
	cfg := newWriterConfig(opts)
	if cfg.chunkSize < MinChunkSize || cfg.chunkSize > MaxChunkSize {
		return nil, fmt.Errorf("seal: chunk size %d out of range [%d, %d]", cfg.chunkSize, MinChunkSize, MaxChunkSize)
	}
	rcpts := dedupRecipients(recipients)
	if len(rcpts) == 0 {
		return nil, errors.New("seal: no recipients")
	}
	if len(rcpts) > MaxRecipients {
		return nil, fmt.Errorf("seal: %d recipients, at most %d allowed", len(rcpts), MaxRecipients)
	}

	dataKey := make([]byte, dataKeySize)
	if _, err := io.ReadFull(cfg.rand, dataKey); err != nil {
		return nil, fmt.Errorf("seal: read data key: %w", err)
	}
	h := &header{chunkSize: uint32(cfg.chunkSize), stanzas: make([]stanza, len(rcpts))}
	if _, err := io.ReadFull(cfg.rand, h.salt[:]); err != nil {
		return nil, fmt.Errorf("seal: read salt: %w", err)
	}
	pre := h.preamble()
	_, kdf, aeadID := suite()
	for i, r := range rcpts {
		enc, sender, err := hpke.NewSender(r.pub, kdf, aeadID, []byte(labelWrap))
		if err != nil {
			return nil, fmt.Errorf("seal: wrap data key: %w", err)
		}
		wrapped, err := sender.Seal(stanzaAAD(pre, r.keyID), dataKey)
		if err != nil {
			return nil, fmt.Errorf("seal: wrap data key: %w", err)
		}
		h.stanzas[i] = stanza{keyID: r.keyID, enc: enc, wrapped: wrapped}
	}
	mac, err := headerMAC(dataKey, h.salt, h.body())
	if err != nil {
		return nil, err
	}
	h.mac = mac
	full := h.marshal()
	aead, err := newChunkAEAD(dataKey, full)
	if err != nil {
		return nil, err
	}
	w := &Writer{
		dst:     dst,
		aead:    aead,
		chunk:   cfg.chunkSize,
		ptHash:  sha256.New(),
		ctHash:  sha256.New(),
		asyncAt: asyncAfter,
	}
	w.pooled = getChunkBuffer(cfg.chunkSize + tagSize)
	w.buf = (*w.pooled)[:0]
	if err := w.emitSync(full); err != nil {
		return nil, err
	}
	return w, nil
}

// dedupRecipients drops nil and repeated recipients, keeping order.
func dedupRecipients(in []*Recipient) []*Recipient {
	seen := make(map[[keyIDSize]byte]bool, len(in))
	out := make([]*Recipient, 0, len(in))
	for _, r := range in {
		if r == nil || seen[r.keyID] {
			continue
		}
		seen[r.keyID] = true
		out = append(out, r)
	}
	return out
}

// newChunkAEAD returns AES-256-GCM keyed with the payload key of a file.
func newChunkAEAD(dataKey, fullHeader []byte) (cipher.AEAD, error) {
	k, err := payloadKey(dataKey, fullHeader)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, fmt.Errorf("seal: payload cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("seal: payload cipher: %w", err)
	}
	return aead, nil
}

// emit writes b to the destination and hashes what it wrote, n bytes.
func (w *Writer) emit(b []byte) (n int, err error) {
	n, err = w.dst.Write(b)
	w.ctHash.Write(b[:n])
	if err == nil && n != len(b) {
		err = io.ErrShortWrite
	}
	if err != nil {
		return n, fmt.Errorf("seal: write: %w", err)
	}
	return n, nil
}

// emitSync is emit by the Writer itself, counting the bytes in its stats.
func (w *Writer) emitSync(b []byte) error {
	n, err := w.emit(b)
	w.stats.CiphertextSize += int64(n)
	return err
}

// Write encrypts p. A full chunk is written only once more data follows it,
// because the final chunk is flagged and only Close knows which one it is.
// A long file's chunks after the first few are written by a goroutine of
// the Writer's (see asyncAfter): a write error then shows on a later Write
// or on Close.
func (w *Writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if w.closed {
		return 0, errors.New("seal: write after close")
	}
	total := 0
	for len(p) > 0 {
		if len(w.buf) == w.chunk {
			if err := w.flush(false); err != nil {
				w.err = err
				return total, err
			}
		}
		n := copy(w.buf[len(w.buf):w.chunk], p)
		w.buf = w.buf[:len(w.buf)+n]
		w.ptHash.Write(p[:n])
		w.stats.PlaintextSize += int64(n)
		p = p[n:]
		total += n
	}
	return total, nil
}

// flush seals and writes the pending chunk.
func (w *Writer) flush(last bool) error {
	if w.counter == ^uint64(0) {
		return errors.New("seal: too many chunks")
	}
	var nonce [nonceSize]byte
	chunkNonce(&nonce, w.counter, last)
	// Sealed in place: buf has room for the tag (see NewWriter).
	out := w.aead.Seal(w.buf[:0], nonce[:], w.buf, nil)
	w.counter++
	if w.async == nil && w.counter > w.asyncAt && !last {
		w.startAsync()
	}
	if w.async != nil {
		return w.emitAsync(out)
	}
	w.buf = w.buf[:0]
	return w.emitSync(out)
}

// Close writes the final chunk (possibly empty) and finalises [Writer.Stats].
// It does not close the destination. Calling Close twice is a no-op.
func (w *Writer) Close() error {
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return nil
	}
	err := w.flush(true)
	if serr := w.stopAsync(); err == nil {
		err = serr
	}
	if err != nil {
		w.err = err
		putChunkBuffer(w.pooled)
		w.pooled, w.buf = nil, nil
		w.closed = true
		return err
	}
	w.closed = true
	putChunkBuffer(w.pooled)
	w.pooled, w.buf = nil, nil
	copy(w.stats.PlaintextSHA256[:], w.ptHash.Sum(nil))
	copy(w.stats.CiphertextSHA256[:], w.ctHash.Sum(nil))
	return nil
}

// Stats returns the sizes and hashes of the sealed file. The hashes are set
// only after Close has returned nil; before that only the sizes so far are
// (the ciphertext's without the chunks the Writer's goroutine writes).
func (w *Writer) Stats() Stats { return w.stats }
