package transport

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
)

// tokenPrefix starts every enrolment token and names its format version.
const tokenPrefix = "dgt1"

// EnrolmentSecretSize is the length of an enrolment token's secret.
const EnrolmentSecretSize = 32

// errBadToken is returned for tokens that do not parse; it never echoes the
// token.
var errBadToken = errors.New("transport: malformed enrolment token")

// EnrolmentToken is a parsed enrolment token:
// "dgt1." + base64url(secret) + "." + hex(SHA-256 of the CA certificate).
type EnrolmentToken struct {
	// Secret is sent to the relay once the CA is verified.
	Secret [EnrolmentSecretSize]byte
	// CAFingerprint is the lowercase hex SHA-256 of the relay CA certificate.
	CAFingerprint string
}

// String encodes the token.
func (t *EnrolmentToken) String() string {
	return tokenPrefix + "." + base64.RawURLEncoding.EncodeToString(t.Secret[:]) + "." + t.CAFingerprint
}

// NewEnrolmentToken mints a token for the CA with the given fingerprint. It
// returns the token for the site operator and the SHA-256 of its secret for
// the relay to store (with an expiry, deleting it on first use).
func NewEnrolmentToken(caFingerprint string) (token string, secretHash [32]byte, err error) {
	if !validFingerprint(caFingerprint) {
		return "", secretHash, errors.New("transport: ca fingerprint must be 64 lowercase hex digits")
	}
	t := EnrolmentToken{CAFingerprint: caFingerprint}
	if _, err := rand.Read(t.Secret[:]); err != nil {
		return "", secretHash, err
	}
	return t.String(), HashEnrolmentSecret(t.Secret[:]), nil
}

// ParseEnrolmentToken parses a token made by NewEnrolmentToken. Surrounding
// white space is ignored.
func ParseEnrolmentToken(s string) (*EnrolmentToken, error) {
	parts := strings.Split(strings.TrimSpace(s), ".")
	if len(parts) != 3 || parts[0] != tokenPrefix || !validFingerprint(parts[2]) {
		return nil, errBadToken
	}
	secret, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil || len(secret) != EnrolmentSecretSize {
		return nil, errBadToken
	}
	t := &EnrolmentToken{CAFingerprint: parts[2]}
	copy(t.Secret[:], secret)
	return t, nil
}

// HashEnrolmentSecret is the value the relay stores and looks tokens up by.
func HashEnrolmentSecret(secret []byte) [32]byte { return sha256.Sum256(secret) }

func validFingerprint(s string) bool {
	if len(s) != 64 || strings.ToLower(s) != s {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}
