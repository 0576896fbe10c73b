package dicomtest

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// valueSource draws the random values of one generator. It remembers every
// token and UID it handed out, so none repeats.
type valueSource struct {
	rng  *rand.Rand
	used map[string]bool
}

func newValueSource(seed uint64) *valueSource {
	return &valueSource{
		rng:  rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		used: map[string]bool{},
	}
}

// unique calls f until it returns a value not handed out before. Small
// value spaces (phone numbers of the drama range, a short list of names)
// run out in large corpora: after many tries the value is reused.
func (v *valueSource) unique(f func() string) string {
	for range 256 {
		s := f()
		if !v.used[s] {
			v.used[s] = true
			return s
		}
	}
	return f()
}

// token returns "PHI-<class>-<6 hex>"; class is at most 5 characters so the
// token fits an SH.
func (v *valueSource) token(class string) string {
	return v.unique(func() string { return fmt.Sprintf("PHI-%s-%06x", class, v.rng.Uint32()&0xFFFFFF) })
}

// csToken returns a token valid for VR CS: "PHI_<class>_<6 HEX>".
func (v *valueSource) csToken(class string) string {
	return v.unique(func() string { return fmt.Sprintf("PHI_%s_%06X", class, v.rng.Uint32()&0xFFFFFF) })
}

// uid returns a fresh UID under the 2.25 root: 37 random decimal digits.
func (v *valueSource) uid() string {
	return v.unique(func() string {
		var b strings.Builder
		b.WriteString("2.25.")
		b.WriteByte(byte('1' + v.rng.IntN(9)))
		for range 36 {
			b.WriteByte(byte('0' + v.rng.IntN(10)))
		}
		return b.String()
	})
}

// digits returns n random decimal digits, the first non-zero.
func (v *valueSource) digits(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('0' + v.rng.IntN(10))
	}
	b[0] = byte('1' + v.rng.IntN(9))
	return string(b)
}

// date returns a random date (YYYYMMDD) in [fromYear, toYear].
func (v *valueSource) date(fromYear, toYear int) string {
	return fmt.Sprintf("%04d%02d%02d", fromYear+v.rng.IntN(toYear-fromYear+1), 1+v.rng.IntN(12), 1+v.rng.IntN(28))
}

// time returns a random time with a six-digit fraction, HHMMSS.FFFFFF, so
// that it cannot be confused with other digits.
func (v *valueSource) time() string {
	return fmt.Sprintf("%02d%02d%02d.%06d", 7+v.rng.IntN(12), v.rng.IntN(60), v.rng.IntN(60), v.rng.IntN(1000000))
}

func (v *valueSource) pick(list []string) string { return list[v.rng.IntN(len(list))] }

func familyNames() []string {
	return []string{"Okafor", "Lindqvist", "Haddad", "Nakamura", "Fitzgerald", "Abernathy",
		"Castellanos", "Oyelaran", "Vasquez", "Thorsen", "Kowalczyk", "Pemberton"}
}

func givenNames() []string {
	return []string{"Imogen", "Tobias", "Amara", "Henrik", "Priya", "Matthias",
		"Saoirse", "Kwame", "Beatrix", "Rafael", "Ingrid", "Desmond"}
}

// utf8Names are names that need SpecificCharacterSet ISO_IR 192.
func utf8Names() []string {
	return []string{"Müller-Łukasiewicz^Zoë^Renée", "Søgaard^Bjørn^Åke", "Ibáñez^José^María", "Dvořák^Anežka"}
}

func streets() []string {
	return []string{"Larkspur Row", "Quarry Bank Lane", "Hollins Crescent", "Marlowe Terrace", "Ashgrove Mews"}
}

func towns() []string {
	return []string{"Leeds LS6 2QT", "Bristol BS8 4RJ", "Norwich NR2 3HP", "Dundee DD1 5EJ", "Exeter EX4 6NB"}
}

// personName returns a realistic "Family^Given^Middle" name.
func (v *valueSource) personName() string {
	return v.unique(func() string {
		return v.pick(familyNames()) + "^" + v.pick(givenNames()) + "^" + v.pick(givenNames())
	})
}

// phone returns a realistic UK phone number from the drama ranges.
func (v *valueSource) phone() string {
	return v.unique(func() string { return fmt.Sprintf("+44 20 7946 0%03d", v.rng.IntN(1000)) })
}

// address returns a realistic street address.
func (v *valueSource) address() string {
	return v.unique(func() string {
		return fmt.Sprintf("%d %s, %s", 2+v.rng.IntN(180), v.pick(streets()), v.pick(towns()))
	})
}
