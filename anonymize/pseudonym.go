package anonymize

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"math/big"
	"strconv"
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

// shiftDateTime shifts the date part of DT values by days and the time of
// day by minutes (modulo 24 h, like shiftTime); a UTC offset is kept.
func shiftDateTime(v string, days, minutes int) string {
	parts := strings.Split(v, `\`)
	for i, part := range parts {
		part = strings.TrimSpace(part)
		if len(part) < 8 {
			if len(part) >= 4 {
				parts[i] = "19000101"
			}
			continue
		}
		rest := part[8:]
		tz := ""
		if j := strings.IndexAny(rest, "+-"); j >= 0 {
			rest, tz = rest[:j], rest[j:]
		}
		if minutes != 0 && rest != "" {
			rest = shiftTime(rest, minutes)
		}
		parts[i] = shiftOne(part[:8], days) + rest + tz
	}
	return strings.Join(parts, `\`)
}

// shiftMinutes is the per-patient time-of-day shift in minutes, in
// [10, 1430]: with whole-day date shifts alone the original times of day
// would survive.
func (p pseudonyms) shiftMinutes(patientKey string) int {
	m := hmac.New(sha256.New, p.secret)
	m.Write([]byte("time-shift\x00"))
	m.Write([]byte(patientKey))
	sum := m.Sum(nil)
	return 10 + int(binary.BigEndian.Uint64(sum[:8])%1421)
}

// shiftTime moves TM values ("HH", "HHMM", "HHMMSS[.F]", or ACR-NEMA
// "HH:MM:SS") forward by minutes modulo 24 h, keeping their precision.
// Intervals within a day are kept unless a shift carries one of the two
// times past midnight. Unparseable values become "000000".
func shiftTime(v string, minutes int) string {
	parts := strings.Split(v, `\`)
	for i, part := range parts {
		t := strings.ReplaceAll(strings.TrimSpace(part), ":", "")
		if t == "" {
			continue
		}
		frac := ""
		if j := strings.IndexByte(t, '.'); j >= 0 {
			t, frac = t[:j], t[j:]
		}
		if len(t) != 2 && len(t) != 4 && len(t) != 6 || strings.Trim(t, "0123456789") != "" {
			parts[i] = "000000"
			continue
		}
		hh, _ := strconv.Atoi(t[0:2])
		mm, ss := 0, 0
		if len(t) >= 4 {
			mm, _ = strconv.Atoi(t[2:4])
		}
		if len(t) == 6 {
			ss, _ = strconv.Atoi(t[4:6])
		}
		total := (hh*60 + mm + minutes) % (24 * 60)
		nh, nm := total/60, total%60
		switch len(t) {
		case 2:
			parts[i] = fmt.Sprintf("%02d", nh)
		case 4:
			parts[i] = fmt.Sprintf("%02d%02d", nh, nm)
		default:
			parts[i] = fmt.Sprintf("%02d%02d%02d", nh, nm, ss) + frac
		}
	}
	return strings.Join(parts, `\`)
}

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

// parseDA parses a DA value.
func parseDA(v string) (time.Time, error) { return time.Parse("20060102", strings.TrimSpace(v)) }
