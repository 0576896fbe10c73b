package transport

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// receiptDomain separates receipt signatures from any other Ed25519 use of
// the relay key.
const receiptDomain = "dicomgate receipt v1\n"

// ErrBadReceiptSignature is returned by Receipt.Verify when the signature does
// not match.
var ErrBadReceiptSignature = errors.New("transport: bad receipt signature")

// Receipt is the relay's signed statement that it committed a file.
type Receipt struct {
	// ID is the Offer.ID of the committed file.
	ID string
	// ObjectKey is where the relay stored the sealed file.
	ObjectKey string
	// Size is the committed length in bytes.
	Size int64
	// SHA256 is the digest of the committed bytes.
	SHA256 [32]byte
	// CommittedAt is when the relay committed the file (nanoseconds, UTC).
	CommittedAt time.Time
	// RelayKeyID names the relay signing key; see KeyID.
	RelayKeyID string
	// Signature is Ed25519 over the canonical encoding of the fields above.
	Signature []byte
}

// KeyID returns a short identifier of an Ed25519 public key: the hex of the
// first 8 bytes of its SHA-256.
func KeyID(pub ed25519.PublicKey) string {
	s := sha256.Sum256(pub)
	return hex.EncodeToString(s[:8])
}

// signedBytes is the canonical encoding the signature covers.
func (r *Receipt) signedBytes() []byte {
	b := append([]byte(nil), receiptDomain...)
	b = appendString(b, r.ID)
	b = appendString(b, r.ObjectKey)
	b = appendUint64(b, uint64(r.Size))
	b = append(b, r.SHA256[:]...)
	b = appendUint64(b, uint64(r.CommittedAt.UnixNano()))
	return appendString(b, r.RelayKeyID)
}

// Sign sets Signature (and RelayKeyID when empty) with the relay's key.
// CommittedAt is truncated to what the wire carries (UTC nanoseconds).
func (r *Receipt) Sign(priv ed25519.PrivateKey) {
	if r.RelayKeyID == "" {
		r.RelayKeyID = KeyID(priv.Public().(ed25519.PublicKey))
	}
	r.CommittedAt = time.Unix(0, r.CommittedAt.UnixNano()).UTC()
	r.Signature = ed25519.Sign(priv, r.signedBytes())
}

// Verify checks the signature with the relay's public key.
func (r *Receipt) Verify(pub ed25519.PublicKey) error {
	if len(pub) != ed25519.PublicKeySize || !ed25519.Verify(pub, r.signedBytes(), r.Signature) {
		return ErrBadReceiptSignature
	}
	return nil
}

// matches reports whether the receipt is for the offered file. Files are
// identified by ID: a relay that already holds an earlier sealing of the
// same file (same anonymised content, another data key) answers with that
// sealing's receipt, whose size and hash differ from the offer's. That is
// the idempotent "already committed" answer, not an error.
func (r *Receipt) matches(o *Offer) error {
	if r.ID != o.ID {
		return errors.New("transport: receipt does not match offer")
	}
	return nil
}

func (r *Receipt) marshal() []byte {
	return appendBytes(r.signedBytes()[len(receiptDomain):], r.Signature)
}

func unmarshalReceipt(p []byte) (*Receipt, error) {
	d := decoder{b: p}
	r := &Receipt{ID: d.string(), ObjectKey: d.string(), Size: int64(d.uint64())}
	copy(r.SHA256[:], d.fixed(32))
	r.CommittedAt = time.Unix(0, int64(d.uint64())).UTC()
	r.RelayKeyID = d.string()
	r.Signature = bytes.Clone(d.bytes())
	if err := d.finish(); err != nil {
		return nil, fmt.Errorf("transport: receipt: %w", err)
	}
	return r, nil
}
