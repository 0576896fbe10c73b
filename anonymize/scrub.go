package anonymize

import (
	"bytes"
	"regexp"
)

// scrubber removes the identifying values of a file from free text kept
// under a Clean option. It works on bytes, so values in any character set
// are matched (ASCII letters case-insensitively).
type scrubber struct {
	words [][]byte         // lower-cased, longest first; matched anywhere
	names [][]byte         // name components, lower-cased; matched as words
	loose []*regexp.Regexp // identifiers with separators inside
	pats  *textPatterns    // generic patterns (phones, e-mail, dates...)
}

// scrubSources are the attributes whose values are searched for in free text.
func scrubSources() []Tag {
	return []Tag{
		0x00100010, 0x00100020, 0x00101000, 0x00101001, 0x00101005, 0x00101060,
		0x00101040, 0x00102154, 0x00100030, 0x00080050, 0x00080090, 0x00081050,
		0x00081060, 0x00081070, 0x00080080, 0x00080081, 0x00081010, 0x00200010,
		0x00100021, 0x00102160,
	}
}

// clean replaces every identifying value in v with a marker (the exact
// values only; cleanText in textclean.go adds names, separators and
// patterns). newScrubber in textclean.go builds the scrubber.
func (s *scrubber) clean(v string) string {
	b := []byte(v)
	for _, w := range s.words {
		lower := asciiLower(b)
		if !bytes.Contains(lower, w) {
			continue
		}
		var out []byte
		for {
			i := bytes.Index(lower, w)
			if i < 0 {
				out = append(out, b...)
				break
			}
			out = append(out, b[:i]...)
			out = append(out, "***"...)
			b, lower = b[i+len(w):], lower[i+len(w):]
		}
		b = out
	}
	return string(b)
}

func asciiLower(b []byte) []byte {
	out := make([]byte, len(b))
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		out[i] = c
	}
	return out
}
