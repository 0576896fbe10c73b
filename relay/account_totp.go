package relay

import (
	"crypto/subtle"
	"fmt"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// totpIssuer names the relay in authenticator apps.
const totpIssuer = "dicomgate"

// totpPeriod is the TOTP time step (RFC 6238 default).
const totpPeriod = 30

// newTOTPKey generates a TOTP secret for account and returns it (base32)
// with its otpauth:// URL for authenticator apps.
func newTOTPKey(account string) (secret, url string, err error) {
	key, err := totp.Generate(totp.GenerateOpts{Issuer: totpIssuer, AccountName: account, Period: totpPeriod,
		Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return "", "", fmt.Errorf("relay: totp: %w", err)
	}
	return key.Secret(), key.URL(), nil
}

// totpCode returns the code of secret at t (tests and the browser test use
// it as an authenticator app would).
func totpCode(secret string, t time.Time) (string, error) {
	code, err := totp.GenerateCodeCustom(secret, t, totp.ValidateOpts{Period: totpPeriod, Digits: otp.DigitsSix,
		Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return "", fmt.Errorf("relay: totp: %w", err)
	}
	return code, nil
}

// checkTOTP checks code against secret at now, allowing one step of clock
// skew either way, and refuses any step at or before lastStep (a code is
// good once). It returns the accepted step.
func checkTOTP(secret, code string, now time.Time, lastStep int64) (int64, bool) {
	if len(code) != 6 {
		return 0, false
	}
	step := now.Unix() / totpPeriod
	for _, s := range []int64{step - 1, step, step + 1} {
		if s <= lastStep {
			continue
		}
		want, err := totpCode(secret, time.Unix(s*totpPeriod, 0))
		if err == nil && subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			return s, true
		}
	}
	return 0, false
}
