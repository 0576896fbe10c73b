package anonymize

import (
	"bytes"
	"regexp"
	"sort"
	"strings"
)

// Free-text cleaning (Clean Descriptors, Clean Structured Content, Clean
// Graphics). Text kept under these options loses, in this order:
//
//   - the identifying values of the same file, at any depth: person names
//     as written and with their components in any order and case, IDs and
//     accession numbers also with separators inside them, institution
//     and address words, and every date in common formats;
//   - anything that looks like an e-mail address, a date, a phone number,
//     a postal code or a long digit run (an MRN).
//
// Each match becomes scrubMarker. Words that are neither survive.

// scrubMarker replaces identifying text.
const scrubMarker = "***"

// textPatterns are the generic identifier patterns, compiled once per
// Anonymizer (regexps are safe for concurrent use).
type textPatterns struct {
	email, dateNum, dateMonth, dateMonthFirst, phone, postalUK, postalCA, zip, digits *regexp.Regexp
	word                                                                              *regexp.Regexp
}

func newTextPatterns() *textPatterns {
	const months = `(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?`
	return &textPatterns{
		email:          regexp.MustCompile(`[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}`),
		dateNum:        regexp.MustCompile(`\b(?:\d{4}[\-/.]\d{1,2}[\-/.]\d{1,2}|\d{1,2}[\-/.]\d{1,2}[\-/.](?:\d{4}|\d{2}))\b`),
		dateMonth:      regexp.MustCompile(`(?i)\b\d{1,2}(?:st|nd|rd|th)?[\s\-]*` + months + `[\s\-,]*\d{2,4}\b`),
		dateMonthFirst: regexp.MustCompile(`(?i)\b` + months + `\s*\d{1,2}(?:st|nd|rd|th)?,?\s*\d{4}\b`),
		phone:          regexp.MustCompile(`(?:\+\d{1,3}[\s.\-]?)?(?:\(\d{1,5}\)[\s.\-]?)?\d{2,5}(?:[\s.\-]\d{2,5}){1,4}`),
		postalUK:       regexp.MustCompile(`(?i)\b[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2}\b`),
		postalCA:       regexp.MustCompile(`(?i)\b[A-Z]\d[A-Z]\s?\d[A-Z]\d\b`),
		zip:            regexp.MustCompile(`\b\d{5}(?:-\d{4})?\b`),
		digits:         regexp.MustCompile(`(?i)\b[a-z]{0,4}[\-#:]?\d{6,}\b|\d{6,}`),
		word:           regexp.MustCompile(`[A-Za-z0-9]{6,}`),
	}
}

// codeLike reports whether a word looks like a record number, accession,
// barcode or other code rather than a word of clinical language: six or
// more hexadecimal characters mixing letters and digits ("4e0751",
// "a46d67"), or eight or more letters and digits with at least three
// digits ("ACC2023X45"). Protocol words such as "T2STAR", "b1000" or
// "MPRAGE" are not.
func codeLike(w string) bool {
	letters, digits, hex := 0, 0, true
	for _, c := range w {
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F':
			letters++
		default:
			letters++
			hex = false
		}
	}
	if letters == 0 || digits == 0 {
		return false
	}
	return hex && len(w) >= 6 || len(w) >= 8 && digits >= 3
}

// clean replaces every match of the generic patterns.
func (tp *textPatterns) clean(s string) string {
	s = tp.email.ReplaceAllString(s, scrubMarker)
	s = tp.dateMonth.ReplaceAllString(s, scrubMarker)
	s = tp.dateMonthFirst.ReplaceAllString(s, scrubMarker)
	s = tp.dateNum.ReplaceAllString(s, scrubMarker)
	s = tp.phone.ReplaceAllStringFunc(s, func(m string) string {
		n := 0
		for _, c := range m {
			if c >= '0' && c <= '9' {
				n++
			}
		}
		if n < 7 {
			return m // a measurement, not a phone number
		}
		return scrubMarker
	})
	s = tp.postalUK.ReplaceAllString(s, scrubMarker)
	s = tp.postalCA.ReplaceAllString(s, scrubMarker)
	s = tp.zip.ReplaceAllString(s, scrubMarker)
	s = tp.digits.ReplaceAllString(s, scrubMarker)
	return tp.word.ReplaceAllStringFunc(s, func(w string) string {
		if codeLike(w) {
			return scrubMarker
		}
		return w
	})
}

// Identifier attributes whose values are searched for in free text, at any
// depth (names are found by VR: every PN of the file).
func identifierSources() []Tag {
	return append(scrubSources(),
		0x00101002, 0x00101090, 0x00380010, 0x00400009, 0x00401001, 0x00400253,
		0x00080092, 0x00080094, 0x00181000, 0x00102152, 0x00081040, 0x00321033,
		0x00400242, 0x00400243, 0x00401010, 0x00401400, 0x00100050, 0x00402016, 0x00402017,
	)
}

// placeWords are words of institution names and addresses that identify
// nobody and are kept.
func placeWords() []string {
	return []string{"hospital", "clinic", "medical", "center", "centre", "university", "general",
		"department", "radiology", "imaging", "health", "institute", "street", "road", "avenue",
		"the", "and", "for", "saint", "children", "county", "regional", "national", "royal", "unit"}
}

// nameTitles are name prefixes and suffixes that identify nobody.
func nameTitles() []string {
	return []string{"dr", "mr", "mrs", "ms", "miss", "prof", "md", "phd", "jr", "sr", "ii", "iii", "rn"}
}

// newScrubber collects the identifying values of the file.
func (f *file) newScrubber() *scrubber {
	s := &scrubber{pats: f.a.text}
	seen := map[string]bool{}
	word := func(w string) {
		w = strings.TrimSpace(w)
		lw := string(asciiLower([]byte(w)))
		if len(w) < 3 || seen[lw] {
			return
		}
		seen[lw] = true
		s.words = append(s.words, []byte(lw))
	}
	name := func(w string) {
		lw := string(asciiLower([]byte(strings.Trim(w, " .,"))))
		if len(lw) < 2 || seen["n:"+lw] || contains(nameTitles(), lw) {
			return
		}
		seen["n:"+lw] = true
		s.names = append(s.names, []byte(lw))
	}
	loose := func(v string) {
		var alnum []string
		for _, c := range v {
			if c < 0x80 && (c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
				alnum = append(alnum, regexp.QuoteMeta(string(c)))
			}
		}
		if len(alnum) < 5 || seen["l:"+strings.Join(alnum, "")] {
			return
		}
		seen["l:"+strings.Join(alnum, "")] = true
		// The identifier with separators (space, -, /, ., _) between its
		// characters, as it may be typed.
		s.loose = append(s.loose, regexp.MustCompile(`(?i)`+strings.Join(alnum, `[\s\-/._]{0,2}`)))
	}
	ids := map[Tag]bool{}
	for _, t := range identifierSources() {
		ids[t] = true
	}
	walk := func(e *element) {}
	walk = func(e *element) {
		for _, it := range e.items {
			for _, c := range it.elems {
				walk(c)
			}
		}
		if !isStringVR(e.vr) {
			return
		}
		for _, v := range e.strs() {
			switch {
			case v == "":
			case e.vr == "PN":
				s.addName(v, word, name)
			case e.vr == "DA" || e.vr == "DT":
				for _, d := range dateForms(v) {
					word(d)
				}
			case ids[e.tag]:
				word(v)
				word(strings.ReplaceAll(v, "^", " "))
				loose(v)
				if digits := strings.Map(func(r rune) rune {
					if r >= '0' && r <= '9' {
						return r
					}
					return -1
				}, v); len(digits) >= 5 {
					loose(digits)
				}
				for _, part := range strings.FieldsFunc(v, func(r rune) bool { return strings.ContainsRune("^= ,;/", r) }) {
					if lp := strings.ToLower(strings.Trim(part, ".")); len(lp) >= 3 && !contains(placeWords(), lp) {
						word(part)
					}
				}
			}
		}
	}
	for _, e := range f.top.elems {
		walk(e)
	}
	sort.Slice(s.words, func(i, j int) bool { return len(s.words[i]) > len(s.words[j]) })
	sort.Slice(s.names, func(i, j int) bool { return len(s.names[i]) > len(s.names[j]) })
	return s
}

// addName adds a person name: as written, in the usual orders, and each
// component of each component group.
func (s *scrubber) addName(v string, word, name func(string)) {
	for _, group := range strings.Split(v, "=") {
		comps := strings.Split(group, "^")
		var parts []string
		for _, c := range comps {
			for _, p := range strings.FieldsFunc(c, func(r rune) bool { return r == ' ' || r == '-' || r == '\'' || r == ',' }) {
				name(p)
				parts = append(parts, p)
			}
			name(c)
		}
		if len(comps) >= 2 && comps[0] != "" && comps[1] != "" {
			fam, giv := strings.TrimSpace(comps[0]), strings.TrimSpace(comps[1])
			word(giv + " " + fam)
			word(fam + " " + giv)
			word(fam + ", " + giv)
		}
		word(strings.Join(parts, " "))
	}
}

// dateForms returns the ways a DA (or the date of a DT) is written.
func dateForms(v string) []string {
	if len(v) < 8 {
		return nil
	}
	y, m, d := v[:4], v[4:6], v[6:8]
	if strings.Trim(y+m+d, "0123456789") != "" {
		return nil
	}
	um, ud := strings.TrimLeft(m, "0"), strings.TrimLeft(d, "0")
	yy := y[2:]
	var out []string
	for _, sep := range []string{"-", "/", "."} {
		out = append(out, y+sep+m+sep+d, d+sep+m+sep+y, m+sep+d+sep+y,
			ud+sep+um+sep+y, um+sep+ud+sep+y, d+sep+m+sep+yy, m+sep+d+sep+yy)
	}
	return append(out, y+m+d)
}

func contains(list []string, s string) bool {
	for _, w := range list {
		if w == s {
			return true
		}
	}
	return false
}

// cleanText scrubs v: the file's identifiers, then the generic patterns.
func (s *scrubber) cleanText(v string) string {
	v = s.clean(v)
	for _, re := range s.loose {
		v = re.ReplaceAllString(v, scrubMarker)
	}
	v = s.cleanNames(v)
	if s.pats != nil {
		v = s.pats.clean(v)
	}
	return v
}

// cleanNames replaces name components found as whole words (ASCII
// case-insensitive; a component is a word when no letter or digit touches
// it, so "Ann" goes but "Annual" stays).
func (s *scrubber) cleanNames(v string) string {
	b := []byte(v)
	for _, w := range s.names {
		lower := asciiLower(b)
		var out []byte
		last := 0
		for i := 0; i+len(w) <= len(lower); {
			j := bytes.Index(lower[i:], w)
			if j < 0 {
				break
			}
			j += i
			end := j + len(w)
			if (j == 0 || !wordByte(lower[j-1])) && (end == len(lower) || !wordByte(lower[end])) {
				out = append(out, b[last:j]...)
				out = append(out, scrubMarker...)
				last = end
				i = end
				continue
			}
			i = j + 1
		}
		if out != nil {
			b = append(out, b[last:]...)
		}
	}
	return string(b)
}

func wordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c >= 0x80
}
