package anonymize

import (
	"bytes"
	"strings"
)

// A shifted date can land on another original date of the same file: with a
// 285-day shift, an InstanceCreationDate of 20001003 becomes 19991223, the
// file's StudyDate. The output would then carry a real date of the patient,
// indistinguishable from a leak. Such a value is emptied instead, and the
// file's report counts it. The shift itself stays one per patient, so the
// other dates of the patient keep their intervals.

// shiftedDate returns e with the shifted value v, or emptied when v contains
// an original date-like value of the file.
func (f *file) shiftedDate(e *element, v string) *element {
	ne := withString(e, v)
	if f.collides(string(ne.value)) {
		f.report.DatesEmptied++
		return emptied(e)
	}
	return ne
}

// collides reports whether v contains one of the file's original date-like
// values.
func (f *file) collides(v string) bool {
	if !f.datesRead {
		f.origDates = collectDates(f.top, f.origDates)
		f.datesRead = true
	}
	for _, d := range f.origDates {
		if strings.Contains(v, d) {
			return true
		}
	}
	return false
}

// collectDates appends every value of ds (sequences included) that could be
// read as a date: at least 8 characters of digits, '.', '-' and '+' in an
// attribute holding dates or text.
func collectDates(ds *dataset, out []string) []string {
	if ds == nil {
		return out
	}
	for _, e := range ds.elems {
		switch e.vr {
		case "SQ":
			for _, it := range e.items {
				out = collectDates(it, out)
			}
		case "DA", "DT", "LO", "SH", "ST", "LT", "UT", "UC", "CS", "AE", "PN":
			if len(e.value) < 8 {
				continue
			}
			rest := e.value
			for len(rest) > 0 {
				var part []byte
				if i := bytes.IndexByte(rest, '\\'); i >= 0 {
					part, rest = rest[:i], rest[i+1:]
				} else {
					part, rest = rest, nil
				}
				part = bytes.Trim(part, " \x00")
				if len(part) < 8 || !dateLike(part) {
					continue
				}
				v := string(part)
				out = addString(out, v)
				if e.vr == "DA" || e.vr == "DT" {
					// The ends of a range are dates of their own.
					for v != "" {
						end, after, _ := strings.Cut(v, "-")
						if len(end) >= 8 {
							out = addString(out, end)
						}
						v = after
					}
				}
			}
		}
	}
	return out
}

// dateLike reports whether v holds only digits, '.', '-' and '+'.
func dateLike(v []byte) bool {
	for i := 0; i < len(v); i++ {
		c := v[i]
		if (c < '0' || c > '9') && c != '.' && c != '-' && c != '+' {
			return false
		}
	}
	return true
}

// addString appends v to list unless it is there already.
func addString(list []string, v string) []string {
	for _, s := range list {
		if s == v {
			return list
		}
	}
	return append(list, v)
}
