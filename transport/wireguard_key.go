package transport

import (
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
)

// WireGuardKey is a Curve25519 key as WireGuard uses it: a private key
// (clamped scalar) or a public key. Its text form is standard base64 of the
// 32 bytes, as printed by `wg genkey` and `dicomgate wg keygen`.
type WireGuardKey [32]byte

// errBadWireGuardKey is returned by ParseWireGuardKey for malformed input.
var errBadWireGuardKey = errors.New("transport: not a base64 wireguard key of 32 bytes")

// GenerateWireGuardKey returns a new random, clamped private key.
func GenerateWireGuardKey() (WireGuardKey, error) {
	var k WireGuardKey
	if _, err := rand.Read(k[:]); err != nil {
		return WireGuardKey{}, fmt.Errorf("transport: wireguard key: %w", err)
	}
	k[0] &= 248
	k[31] = (k[31] & 127) | 64
	return k, nil
}

// ParseWireGuardKey parses the base64 text form of a key.
func ParseWireGuardKey(s string) (WireGuardKey, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != 32 {
		return WireGuardKey{}, errBadWireGuardKey
	}
	return WireGuardKey(b), nil
}

// PublicKey returns the public key of the private key k.
func (k WireGuardKey) PublicKey() WireGuardKey {
	priv, err := ecdh.X25519().NewPrivateKey(k[:])
	if err != nil {
		// Every 32-byte string is a valid X25519 private key.
		panic("transport: x25519: " + err.Error())
	}
	return WireGuardKey(priv.PublicKey().Bytes())
}

// IsZero reports whether k is unset.
func (k WireGuardKey) IsZero() bool { return k == WireGuardKey{} }

// String returns the base64 text form. Call it on public keys only: a
// private key printed this way is a secret in the clear.
func (k WireGuardKey) String() string { return base64.StdEncoding.EncodeToString(k[:]) }

// hex returns the form wireguard-go's configuration protocol expects.
func (k WireGuardKey) hex() string { return hex.EncodeToString(k[:]) }
