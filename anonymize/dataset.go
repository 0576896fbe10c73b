package anonymize

import (
	"bytes"
	"strings"
)

// element is one parsed data element. Values are kept as raw bytes in the
// data set's byte order; only the attributes an action touches are decoded.
type element struct {
	tag Tag
	vr  string
	// value holds the raw value of a non-sequence element.
	value []byte
	// items holds the items of a sequence (vr == "SQ").
	items []*dataset
	// fragments holds the items of encapsulated pixel data (undefined-length
	// OB/OW outside the top level, e.g. in an Icon Image Sequence).
	fragments [][]byte
	// encapsulated marks undefined-length pixel data with fragments.
	encapsulated bool
}

// dataset is an ordered list of elements (a data set or a sequence item).
type dataset struct {
	elems []*element
}

func (d *dataset) find(t Tag) *element {
	for _, e := range d.elems {
		if e.tag == t {
			return e
		}
	}
	return nil
}

// str returns the trimmed string value of t, or "".
func (d *dataset) str(t Tag) string {
	e := d.find(t)
	if e == nil {
		return ""
	}
	return e.str()
}

func (d *dataset) remove(t Tag) {
	out := d.elems[:0]
	for _, e := range d.elems {
		if e.tag != t {
			out = append(out, e)
		}
	}
	d.elems = out
}

// set replaces or inserts e, keeping tag order.
func (d *dataset) set(e *element) {
	for i, x := range d.elems {
		if x.tag == e.tag {
			d.elems[i] = e
			return
		}
		if x.tag > e.tag {
			d.elems = append(d.elems, nil)
			copy(d.elems[i+1:], d.elems[i:])
			d.elems[i] = e
			return
		}
	}
	d.elems = append(d.elems, e)
}

// str returns the value as a string with trailing padding (spaces and NULs)
// and leading spaces (except for LT, ST, UT) removed.
func (e *element) str() string {
	s := string(bytes.TrimRight(e.value, " \x00"))
	switch e.vr {
	case "LT", "ST", "UT":
		return s
	}
	return strings.TrimLeft(s, " ")
}

// strs returns the values of a multi-valued string element.
func (e *element) strs() []string {
	parts := strings.Split(string(e.value), `\`)
	for i, p := range parts {
		parts[i] = strings.Trim(p, " \x00")
	}
	return parts
}

// isStringVR reports whether values of vr are character strings.
func isStringVR(vr string) bool {
	switch vr {
	case "AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UI", "UR", "UT":
		return true
	}
	return false
}

// isTextVR reports whether a string VR can carry free text or names (the
// VRs an identifier can hide in).
func isTextVR(vr string) bool {
	switch vr {
	case "AE", "LO", "LT", "PN", "SH", "ST", "UC", "UT", "UR":
		return true
	}
	return false
}

// longLengthVR reports whether explicit-VR encoding uses a 4-byte length.
func longLengthVR(vr string) bool {
	switch vr {
	case "OB", "OD", "OF", "OL", "OV", "OW", "SQ", "UC", "UN", "UR", "UT", "SV", "UV":
		return true
	}
	return false
}

// knownVR reports whether vr is a VR of PS3.5.
func knownVR(vr string) bool {
	if longLengthVR(vr) || isStringVR(vr) {
		return true
	}
	switch vr {
	case "AT", "FL", "FD", "SL", "SS", "UL", "US":
		return true
	}
	return false
}

// maxLen is the maximum value length of a string VR (0: unbounded).
func maxLen(vr string) int {
	switch vr {
	case "AE", "CS", "SH", "TM":
		return 16
	case "AS":
		return 4
	case "DA":
		return 8
	case "DS", "IS":
		return 16
	case "DT":
		return 26
	case "LO", "PN", "UI":
		return 64
	case "ST":
		return 1024
	case "LT":
		return 10240
	}
	return 0
}
