package relay

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"dicomgate/store"
)

// TOTP secrets are kept encrypted in the account store, so that a copy of
// the database (a backup, a dump) does not hold what generates the second
// factor of every account. The key is derived from the relay's signing
// key, which every relay of one database already shares (docs/deploy.md)
// and which never goes into the database.

// totpSealedPrefix starts a sealed secret: "enc1:" base64url(nonce ||
// AES-256-GCM ciphertext), the account name as additional data (a sealed
// secret moved to another account does not open).
const totpSealedPrefix = "enc1:"

// totpKeyInfo is the HKDF info of the key.
const totpKeyInfo = "dicomgate relay: totp secrets at rest v1"

// errTOTPUnreadable is a sealed secret that does not open with this
// relay's key (another relay's signing key, or a changed row).
var errTOTPUnreadable = errors.New("relay: totp secret cannot be decrypted with this relay's signing key (relays on one database must share relay-signing.key)")

// totpBox seals and opens the TOTP secrets of accounts.
type totpBox struct {
	aead cipher.AEAD
}

// newTOTPBox derives the box of the relay signing key key.
func newTOTPBox(key ed25519.PrivateKey) (*totpBox, error) {
	k, err := hkdf.Key(sha256.New, key.Seed(), nil, totpKeyInfo, 32)
	if err != nil {
		return nil, fmt.Errorf("relay: totp key: %w", err)
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, fmt.Errorf("relay: totp key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("relay: totp key: %w", err)
	}
	return &totpBox{aead: aead}, nil
}

// seal returns secret sealed for account ("" stays "").
func (b *totpBox) seal(account, secret string) (string, error) {
	if secret == "" {
		return "", nil
	}
	nonce := make([]byte, b.aead.NonceSize(), b.aead.NonceSize()+len(secret)+b.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("relay: totp seal: %w", err)
	}
	out := b.aead.Seal(nonce, nonce, []byte(secret), []byte(account))
	return totpSealedPrefix + base64.RawURLEncoding.EncodeToString(out), nil
}

// open returns the secret of account stored as v. A value without the
// sealed prefix is a secret stored before secrets were sealed, returned
// as it is (sealLegacyTOTP seals those at start).
func (b *totpBox) open(account, v string) (string, error) {
	rest, ok := strings.CutPrefix(v, totpSealedPrefix)
	if !ok {
		return v, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(rest)
	n := b.aead.NonceSize()
	if err != nil || len(raw) < n+b.aead.Overhead() {
		return "", errTOTPUnreadable
	}
	plain, err := b.aead.Open(nil, raw[:n], raw[n:], []byte(account))
	if err != nil {
		return "", errTOTPUnreadable
	}
	return string(plain), nil
}

// isSealedTOTP reports whether v is empty or sealed.
func isSealedTOTP(v string) bool { return v == "" || strings.HasPrefix(v, totpSealedPrefix) }

// sealLegacyTOTP seals the TOTP secrets stored in clear by relays before
// secrets were sealed, and returns how many accounts it changed.
func sealLegacyTOTP(ctx context.Context, st store.AccountStore, b *totpBox) (int, error) {
	list, err := st.ListAccounts(ctx)
	if err != nil {
		return 0, fmt.Errorf("relay: seal totp secrets: %w", err)
	}
	n := 0
	for _, a := range list {
		if isSealedTOTP(a.TOTPSecret) && isSealedTOTP(a.TOTPPending) {
			continue
		}
		_, err := st.UpdateAccount(ctx, a.Name, func(a *store.Account) error {
			for _, f := range []*string{&a.TOTPSecret, &a.TOTPPending} {
				if isSealedTOTP(*f) {
					continue
				}
				v, err := b.seal(a.Name, *f)
				if err != nil {
					return err
				}
				*f = v
			}
			return nil
		})
		if err != nil {
			return n, fmt.Errorf("relay: seal totp secrets: %w", err)
		}
		n++
	}
	return n, nil
}

// openTOTP opens the stored TOTP secret v of account. A secret that does
// not open is logged with the reason (no secret, no code) and returned as
// errTOTPUnreadable: the sign-in or signature fails.
func (s *Server) openTOTP(account, v string) (string, error) {
	res, err := s.resources()
	if err != nil {
		return "", err
	}
	secret, err := res.totp.open(account, v)
	if err != nil {
		s.log.Error().Str("account", account).Err(err).Msg("totp check impossible")
		return "", err
	}
	return secret, nil
}
