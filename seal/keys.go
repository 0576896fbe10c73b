package seal

import (
	"bytes"
	"crypto/hpke"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
)

// Text encodings of keys. Both are one line: a prefix, then unpadded RFC 4648
// base32 of the key bytes followed by a 4-byte checksum (the first bytes of
// SHA-256(prefix || key)) that catches copy-and-paste damage.
const (
	// IdentityPrefix starts the text form of an [Identity] (upper-case).
	IdentityPrefix = "DICOMGATE-KEY-1"
	// RecipientPrefix starts the text form of a [Recipient] (lower-case).
	RecipientPrefix = "dgpub1"
)

const (
	identitySeedSize = 32
	recipientKeySize = 1216 // ML-KEM-768 encapsulation key (1184) + X25519 (32)
	checksumSize     = 4
)

var (
	_ fmt.Stringer = (*Identity)(nil)
	_ fmt.Stringer = (*Recipient)(nil)
)

// An Identity is a recipient's secret key: an HPKE MLKEM768-X25519 (X-Wing)
// decapsulation key, stored as its 32-byte seed. It can open files sealed to
// its [Recipient].
type Identity struct {
	seed []byte
	priv hpke.PrivateKey
	rcpt *Recipient
}

// A Recipient is the public half of an [Identity]: the key files are sealed
// to. Core labs publish it; the agent holds one per project recipient.
type Recipient struct {
	pub   hpke.PublicKey
	keyID [keyIDSize]byte
}

// GenerateIdentity returns a new random identity.
func GenerateIdentity() (*Identity, error) {
	return generateIdentity(rand.Reader)
}

// generateIdentity derives an identity from 32 bytes of rnd.
func generateIdentity(rnd io.Reader) (*Identity, error) {
	seed := make([]byte, identitySeedSize)
	if _, err := io.ReadFull(rnd, seed); err != nil {
		return nil, fmt.Errorf("seal: generate identity: %w", err)
	}
	return newIdentity(seed)
}

// newIdentity builds an identity from its seed.
func newIdentity(seed []byte) (*Identity, error) {
	kem, _, _ := suite()
	priv, err := kem.NewPrivateKey(seed)
	if err != nil {
		return nil, fmt.Errorf("seal: invalid identity: %w", err)
	}
	return &Identity{
		seed: bytes.Clone(seed),
		priv: priv,
		rcpt: newRecipientFromKey(priv.PublicKey()),
	}, nil
}

// newRecipientFromKey wraps an HPKE public key and computes its key ID.
func newRecipientFromKey(pub hpke.PublicKey) *Recipient {
	r := &Recipient{pub: pub}
	h := sha256.New()
	h.Write([]byte(labelKeyID))
	h.Write(pub.Bytes())
	copy(r.keyID[:], h.Sum(nil))
	return r
}

// Recipient returns the public recipient of i.
func (i *Identity) Recipient() *Recipient { return i.rcpt }

// String returns the secret text form of i, "DICOMGATE-KEY-1...". Treat it as
// a secret: never log it.
func (i *Identity) String() string {
	return IdentityPrefix + encodeKey(IdentityPrefix, i.seed)
}

// ParseIdentity parses the text form produced by [Identity.String].
// Surrounding white space is ignored.
func ParseIdentity(s string) (*Identity, error) {
	seed, err := decodeKey(IdentityPrefix, strings.TrimSpace(s), identitySeedSize)
	if err != nil {
		return nil, fmt.Errorf("seal: parse identity: %w", err)
	}
	return newIdentity(seed)
}

// String returns the public text form of r, "dgpub1...".
func (r *Recipient) String() string {
	return RecipientPrefix + strings.ToLower(encodeKey(RecipientPrefix, r.pub.Bytes()))
}

// Fingerprint returns a short, stable hex identifier of r (the key ID stored
// in sealed-file headers), suitable for logs and audit records.
func (r *Recipient) Fingerprint() string {
	return hex.EncodeToString(r.keyID[:])
}

// ParseRecipient parses the text form produced by [Recipient.String].
// Surrounding white space is ignored.
func ParseRecipient(s string) (*Recipient, error) {
	raw, err := decodeKey(RecipientPrefix, strings.ToUpper(strings.TrimSpace(s)), recipientKeySize)
	if err != nil {
		return nil, fmt.Errorf("seal: parse recipient: %w", err)
	}
	kem, _, _ := suite()
	pub, err := kem.NewPublicKey(raw)
	if err != nil {
		return nil, fmt.Errorf("seal: parse recipient: invalid public key: %w", err)
	}
	return newRecipientFromKey(pub), nil
}

// keyEncoding is unpadded RFC 4648 base32.
func keyEncoding() *base32.Encoding { return base32.StdEncoding.WithPadding(base32.NoPadding) }

// encodeKey returns base32(key || checksum) without the prefix.
func encodeKey(prefix string, key []byte) string {
	sum := checksum(prefix, key)
	return keyEncoding().EncodeToString(append(bytes.Clone(key), sum[:]...))
}

// decodeKey reverses encodeKey; s must carry the prefix, compared
// case-insensitively because recipients are lower-case.
func decodeKey(prefix, s string, size int) ([]byte, error) {
	if len(s) < len(prefix) || !strings.EqualFold(s[:len(prefix)], prefix) {
		return nil, fmt.Errorf("missing %q prefix", prefix)
	}
	raw, err := keyEncoding().DecodeString(s[len(prefix):])
	if err != nil {
		return nil, fmt.Errorf("bad encoding: %w", err)
	}
	if len(raw) != size+checksumSize {
		return nil, fmt.Errorf("wrong length %d", len(raw))
	}
	key, sum := raw[:size], raw[size:]
	want := checksum(prefix, key)
	if !bytes.Equal(sum, want[:]) {
		return nil, fmt.Errorf("checksum mismatch")
	}
	return key, nil
}

// checksum returns the first bytes of SHA-256(prefix || key).
func checksum(prefix string, key []byte) [checksumSize]byte {
	h := sha256.New()
	h.Write([]byte(prefix))
	h.Write(key)
	var out [checksumSize]byte
	copy(out[:], h.Sum(nil))
	return out
}
