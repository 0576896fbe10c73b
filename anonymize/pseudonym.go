package anonymize

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"math/big"
	"strings"
	"time"
)

// pseudonyms derives every replacement value from the site secret, so the
// same input gives the same output across files, runs and machines.
type pseudonyms struct {
	secret  []byte
	maxDays int
}

// uid is "2.25." followed by the decimal value of the first 128 bits of
// HMAC-SHA256(secret, uid) (PS3.5 B.2: a UUID-derived UID, at most 44
// characters).
func (p pseudonyms) uid(original string) string {
	m := hmac.New(sha256.New, p.secret)
	m.Write([]byte(original))
	sum := m.Sum(nil)
	var n big.Int
	n.SetBytes(sum[:16])
	return "2.25." + n.String()
}

// token is a keyed hash of value in a domain, as upper-case base32.
func (p pseudonyms) token(domain, value string, n int) string {
	m := hmac.New(sha256.New, p.secret)
	m.Write([]byte(domain))
	m.Write([]byte{0})
	m.Write([]byte(value))
	s := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(m.Sum(nil))
	if n > len(s) {
		n = len(s)
	}
	return s[:n]
}

// hash returns prefix + keyed hash of value, fitting maxLen (0: 64).
func (p pseudonyms) hash(prefix, value string, maxLen int) string {
	if maxLen <= 0 {
		maxLen = 64
	}
	n := 16
	if len(prefix)+n > maxLen {
		n = maxLen - len(prefix)
		if n < 8 {
			prefix, n = "", min(maxLen, 16)
		}
	}
	return prefix + p.token("hash", value, n)
}

// shiftDays is the per-patient date shift: 1..maxDays days into the past,
// derived from the patient's original identifier.
func (p pseudonyms) shiftDays(patientKey string) int {
	m := hmac.New(sha256.New, p.secret)
	m.Write([]byte("date-shift\x00"))
	m.Write([]byte(patientKey))
	sum := m.Sum(nil)
	maxDays := p.maxDays
	if maxDays <= 0 {
		maxDays = 3650
	}
	return 1 + int(binary.BigEndian.Uint64(sum[:8])%uint64(maxDays))
}

// shiftDate shifts a DA value ("YYYYMMDD", possibly a range or list) by
// -days. Values it cannot parse are replaced by a dummy date.
func shiftDate(v string, days int) string {
	parts := strings.Split(v, `\`)
	for i, part := range parts {
		part = strings.TrimSpace(part)
		// Ranges "A-B" are shifted end by end.
		ends := strings.Split(part, "-")
		for j, d := range ends {
			if d == "" {
				continue
			}
			ends[j] = shiftOne(d, days)
		}
		parts[i] = strings.Join(ends, "-")
	}
	return strings.Join(parts, `\`)
}

func shiftOne(d string, days int) string {
	if len(d) < 8 {
		return "19000101"
	}
	t, err := time.Parse("20060102", d[:8])
	if err != nil {
		// ACR-NEMA style "YYYY.MM.DD".
		if t2, err2 := time.Parse("2006.01.02", d); err2 == nil {
			return t2.AddDate(0, 0, -days).Format("20060102")
		}
		return "19000101"
	}
	return t.AddDate(0, 0, -days).Format("20060102")
}

// shiftDateTime shifts the date part of DT values and keeps the rest.
func shiftDateTime(v string, days int) string {
	parts := strings.Split(v, `\`)
	for i, part := range parts {
		part = strings.TrimSpace(part)
		if len(part) < 8 {
			if len(part) >= 4 {
				parts[i] = "19000101"
			}
			continue
		}
		parts[i] = shiftOne(part[:8], days) + part[8:]
	}
	return strings.Join(parts, `\`)
}

// parseDA parses a DA value.
func parseDA(v string) (time.Time, error) { return time.Parse("20060102", strings.TrimSpace(v)) }

// shiftDateOnly is a dummy DT: the shifted date at midnight.
func shiftDateOnly(v string, days int) string {
	parts := strings.Split(v, `\`)
	for i, part := range parts {
		part = strings.TrimSpace(part)
		if len(part) < 8 {
			parts[i] = "19000101000000"
			continue
		}
		parts[i] = shiftOne(part[:8], days) + "000000"
	}
	return strings.Join(parts, `\`)
}
