package anonymize

import (
	"bytes"
	"sort"
	"strings"
)

// scrubber removes the identifying values of a file from free text kept
// under a Clean option. It works on bytes, so values in any character set
// are matched (ASCII letters case-insensitively).
type scrubber struct {
	words [][]byte // lower-cased, longest first
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

func newScrubber(top *dataset) *scrubber {
	seen := map[string]bool{}
	s := &scrubber{}
	add := func(w string) {
		w = strings.TrimSpace(w)
		lw := string(asciiLower([]byte(w)))
		if len(w) < 3 || seen[lw] {
			return
		}
		seen[lw] = true
		s.words = append(s.words, []byte(lw))
	}
	for _, t := range scrubSources() {
		e := top.find(t)
		if e == nil || !isStringVR(e.vr) {
			continue
		}
		for _, v := range e.strs() {
			add(v)
			add(strings.ReplaceAll(v, "^", " "))
			for _, part := range strings.FieldsFunc(v, func(r rune) bool { return r == '^' || r == '=' || r == ' ' || r == ',' }) {
				add(part)
			}
			if e.vr == "DA" && len(v) == 8 {
				add(v[:4] + "-" + v[4:6] + "-" + v[6:8])
				add(v[6:8] + "/" + v[4:6] + "/" + v[:4])
				add(v[4:6] + "/" + v[6:8] + "/" + v[:4])
				add(v[6:8] + "." + v[4:6] + "." + v[:4])
			}
		}
	}
	sort.Slice(s.words, func(i, j int) bool { return len(s.words[i]) > len(s.words[j]) })
	return s
}

// clean replaces every identifying value in v with a marker.
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
