package relay

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"unicode"

	"golang.org/x/crypto/argon2"
)

// ErrWeakPassword is wrapped by the errors of a password refused by the
// complexity, denylist or history rules; the message says which rule, and
// never quotes the password.
var ErrWeakPassword = errors.New("relay: password refused")

// commonPasswords are words no password may contain (case insensitive):
// the most common passwords and the obvious ones for this product.
func commonPasswords() []string {
	return []string{
		"password", "passw0rd", "p@ssw0rd", "p@ssword", "123456", "12345678", "qwerty", "azerty",
		"abc123", "letmein", "welcome", "admin", "administrator", "monkey", "dragon", "iloveyou",
		"football", "baseball", "sunshine", "princess", "trustno1", "master", "shadow", "superman",
		"starwars", "whatever", "changeme", "default", "secret", "login", "qazwsx", "zxcvbn",
		"111111", "000000", "123123", "654321", "dicomgate", "dicom", "relay", "hospital", "radiology",
		"pacs", "corelab", "summer", "winter", "spring", "autumn",
	}
}

// passwordHash returns the PHC-style encoding of an argon2id hash of pw
// with a random 16-byte salt:
// $argon2id$v=19$m=<KiB>,t=<iterations>,p=<threads>$<salt>$<hash>.
func (c *AccountsConfig) passwordHash(pw string) (string, error) {
	var salt [16]byte
	if _, err := rand.Read(salt[:]); err != nil {
		return "", fmt.Errorf("relay: password hash: %w", err)
	}
	sum := argon2.IDKey([]byte(pw), salt[:], c.Argon2Iterations, c.Argon2MemoryKiB, c.Argon2Threads, 32)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, c.Argon2MemoryKiB,
		c.Argon2Iterations, c.Argon2Threads, enc.EncodeToString(salt[:]), enc.EncodeToString(sum)), nil
}

// checkPasswordHash reports whether pw matches an encoded argon2id hash,
// using the parameters stored with the hash. A malformed hash never
// matches.
func checkPasswordHash(encoded, pw string) bool {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	var v int
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return false
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || t == 0 || p == 0 || m > 1<<22 {
		return false
	}
	enc := base64.RawStdEncoding
	salt, err1 := enc.DecodeString(parts[4])
	want, err2 := enc.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 {
		return false
	}
	got := argon2.IDKey([]byte(pw), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// checkPasswordRules applies the complexity and denylist rules to a new
// password for account login with printed name fullName. The error wraps
// [ErrWeakPassword] and names the rule.
func (c *AccountsConfig) checkPasswordRules(pw, login, fullName string) error {
	weak := func(msg string) error { return fmt.Errorf("%w: %s", ErrWeakPassword, msg) }
	n := len([]rune(pw))
	if n < c.PasswordMinLength {
		return weak(fmt.Sprintf("must be at least %d characters", c.PasswordMinLength))
	}
	if n > maxPasswordLength {
		return weak(fmt.Sprintf("must be at most %d characters", maxPasswordLength))
	}
	var lower, upper, digit, other int
	for _, r := range pw {
		switch {
		case unicode.IsControl(r):
			return weak("must not contain control characters")
		case unicode.IsLower(r):
			lower = 1
		case unicode.IsUpper(r):
			upper = 1
		case unicode.IsDigit(r):
			digit = 1
		default:
			other = 1
		}
	}
	if lower+upper+digit+other < c.PasswordMinClasses {
		return weak(fmt.Sprintf("must mix at least %d of: lower case, upper case, digits, other characters", c.PasswordMinClasses))
	}
	lp := strings.ToLower(pw)
	personal := []string{login}
	personal = append(personal, strings.FieldsFunc(fullName, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })...)
	personal = append(personal, strings.FieldsFunc(login, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })...)
	for _, w := range personal {
		if len([]rune(w)) >= 3 && strings.Contains(lp, strings.ToLower(w)) {
			return weak("must not contain your login or name")
		}
	}
	for _, w := range append(commonPasswords(), c.PasswordDenylist...) {
		if w = strings.ToLower(strings.TrimSpace(w)); w != "" && strings.Contains(lp, w) {
			return weak("contains a common or forbidden word")
		}
	}
	return nil
}

// newTemporaryPassword returns a random one-time password such as
// "Kp7wd-Xq2mA-9rTcz-bN4ue" (over 100 bits) that passes any complexity
// setting up to 4 classes and 23 characters.
func newTemporaryPassword() (string, error) {
	const alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"
	for {
		var b [5 * defaultTemporaryPasswordLen]byte
		if _, err := rand.Read(b[:]); err != nil {
			return "", fmt.Errorf("relay: temporary password: %w", err)
		}
		var sb strings.Builder
		var lower, upper, digit bool
		for i, x := range b {
			if i > 0 && i%5 == 0 {
				sb.WriteByte('-')
			}
			ch := alphabet[int(x)%len(alphabet)]
			lower = lower || unicode.IsLower(rune(ch))
			upper = upper || unicode.IsUpper(rune(ch))
			digit = digit || unicode.IsDigit(rune(ch))
			sb.WriteByte(ch)
		}
		if lower && upper && digit {
			return sb.String(), nil
		}
	}
}
