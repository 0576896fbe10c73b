package seal

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/hpke"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
)

// Format constants for version 1 of the sealed-file format. The byte layout
// is specified in docs/sealed-format.md.
const (
	// DefaultChunkSize is the plaintext size of every chunk but the last
	// when no [WithChunkSize] option is given: 1 MiB.
	DefaultChunkSize = 1 << 20
	// MinChunkSize is the smallest chunk size a file may declare.
	MinChunkSize = 16
	// MaxChunkSize is the largest chunk size a file may declare (16 MiB); it
	// bounds the memory a [Reader] allocates.
	MaxChunkSize = 16 << 20
	// MaxRecipients is the largest number of recipient stanzas in a header.
	MaxRecipients = 1024
	// FormatVersion is the sealed-file format version this package writes.
	FormatVersion = 1
)

const (
	magicPrefix   = "DGSEAL\x00" // 7 bytes, followed by the version byte
	saltSize      = 32
	preambleSize  = len(magicPrefix) + 1 + 4 + saltSize + 2 // 46
	keyIDSize     = 16
	dataKeySize   = 32
	hpkeEncSize   = 1120 // ML-KEM-768 ciphertext (1088) + X25519 share (32)
	wrappedSize   = dataKeySize + 16
	stanzaSize    = keyIDSize + hpkeEncSize + wrappedSize // 1184
	macSize       = sha256.Size
	tagSize       = 16
	nonceSize     = 12
	lastChunkFlag = 0x01

	labelKeyID   = "dicomgate/seal/v1 key id"
	labelWrap    = "dicomgate/seal/v1 data key"
	labelMAC     = "dicomgate/seal/v1 header mac"
	labelPayload = "dicomgate/seal/v1 payload"
)

// suite returns the fixed HPKE cipher suite of format version 1.
func suite() (hpke.KEM, hpke.KDF, hpke.AEAD) {
	return hpke.MLKEM768X25519(), hpke.HKDFSHA256(), hpke.AES256GCM()
}

// stanza is one recipient's wrapped copy of the data key.
type stanza struct {
	keyID   [keyIDSize]byte
	enc     []byte // hpkeEncSize bytes
	wrapped []byte // wrappedSize bytes
}

// header is a parsed or to-be-written sealed-file header.
type header struct {
	chunkSize uint32
	salt      [saltSize]byte
	stanzas   []stanza
	mac       [macSize]byte
}

// preamble returns the fixed-size start of the header: magic, version,
// chunk size, salt and recipient count. It is the HPKE AAD of each stanza.
func (h *header) preamble() []byte {
	b := make([]byte, 0, preambleSize)
	b = append(b, magicPrefix...)
	b = append(b, FormatVersion)
	b = binary.BigEndian.AppendUint32(b, h.chunkSize)
	b = append(b, h.salt[:]...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(h.stanzas)))
	return b
}

// body returns the header bytes covered by the header MAC.
func (h *header) body() []byte {
	b := h.preamble()
	for _, s := range h.stanzas {
		b = append(b, s.keyID[:]...)
		b = append(b, s.enc...)
		b = append(b, s.wrapped...)
	}
	return b
}

// marshal returns the complete header including its MAC.
func (h *header) marshal() []byte {
	return append(h.body(), h.mac[:]...)
}

// stanzaAAD is the HPKE additional data binding a stanza to the preamble of
// its file and to the key ID it claims.
func stanzaAAD(preamble []byte, keyID [keyIDSize]byte) []byte {
	return append(append([]byte(nil), preamble...), keyID[:]...)
}

// headerMAC computes HMAC-SHA256 over body with a key derived from the data
// key and the file salt.
func headerMAC(dataKey []byte, salt [saltSize]byte, body []byte) ([macSize]byte, error) {
	var out [macSize]byte
	k, err := hkdf.Key(sha256.New, dataKey, salt[:], labelMAC, 32)
	if err != nil {
		return out, fmt.Errorf("seal: derive header mac key: %w", err)
	}
	m := hmac.New(sha256.New, k)
	m.Write(body)
	copy(out[:], m.Sum(nil))
	return out, nil
}

// payloadKey derives the chunk key from the data key and the SHA-256 of the
// complete header (MAC included), binding every chunk to this header.
func payloadKey(dataKey, fullHeader []byte) ([]byte, error) {
	hh := sha256.Sum256(fullHeader)
	k, err := hkdf.Key(sha256.New, dataKey, hh[:], labelPayload, 32)
	if err != nil {
		return nil, fmt.Errorf("seal: derive payload key: %w", err)
	}
	return k, nil
}

// chunkNonce writes the nonce of chunk counter into n: three zero bytes,
// the 64-bit big-endian counter, and the last-chunk flag byte.
func chunkNonce(n *[nonceSize]byte, counter uint64, last bool) {
	n[0], n[1], n[2] = 0, 0, 0
	binary.BigEndian.PutUint64(n[3:11], counter)
	n[11] = 0
	if last {
		n[11] = lastChunkFlag
	}
}

// readHeader parses a header from r. Structural problems wrap ErrTampered;
// an unknown version wraps ErrUnsupportedVersion. It does not verify the MAC,
// which needs the data key.
func readHeader(r io.Reader) (*header, error) {
	pre := make([]byte, preambleSize)
	if _, err := io.ReadFull(r, pre); err != nil {
		return nil, fmt.Errorf("seal: read header: %w: %w", ErrTampered, err)
	}
	if string(pre[:len(magicPrefix)]) != magicPrefix {
		return nil, fmt.Errorf("seal: not a dicomgate sealed file: %w", ErrTampered)
	}
	if v := pre[len(magicPrefix)]; v != FormatVersion {
		return nil, fmt.Errorf("seal: version %d: %w", v, ErrUnsupportedVersion)
	}
	h := &header{}
	off := len(magicPrefix) + 1
	h.chunkSize = binary.BigEndian.Uint32(pre[off:])
	off += 4
	if h.chunkSize < MinChunkSize || h.chunkSize > MaxChunkSize {
		return nil, fmt.Errorf("seal: chunk size %d out of range: %w", h.chunkSize, ErrTampered)
	}
	copy(h.salt[:], pre[off:off+saltSize])
	off += saltSize
	n := int(binary.BigEndian.Uint16(pre[off:]))
	if n < 1 || n > MaxRecipients {
		return nil, fmt.Errorf("seal: recipient count %d out of range: %w", n, ErrTampered)
	}
	rest := make([]byte, n*stanzaSize+macSize)
	if _, err := io.ReadFull(r, rest); err != nil {
		return nil, fmt.Errorf("seal: read header stanzas: %w: %w", ErrTampered, err)
	}
	h.stanzas = make([]stanza, n)
	for i := range h.stanzas {
		b := rest[i*stanzaSize : (i+1)*stanzaSize]
		s := &h.stanzas[i]
		copy(s.keyID[:], b[:keyIDSize])
		s.enc = b[keyIDSize : keyIDSize+hpkeEncSize]
		s.wrapped = b[keyIDSize+hpkeEncSize:]
	}
	copy(h.mac[:], rest[n*stanzaSize:])
	return h, nil
}
