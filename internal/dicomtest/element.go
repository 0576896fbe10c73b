package dicomtest

import (
	"fmt"
	"sort"

	"github.com/suyashkumar/dicom/pkg/tag"
)

// element is one data element to encode. Exactly one of the value fields is
// used, chosen by vr.
type element struct {
	tag uint32
	vr  string
	str string // text VRs, multiple values already joined with '\'
	// raw is written as is, in every byte order (OB, UN, and OW whose bytes
	// were laid out for the target order by the caller).
	raw    []byte
	words  []uint16  // OW: byte-swapped in big endian
	nums   []int64   // US, SS, UL, SL, AT
	floats []float64 // FL, FD
	items  []*dataset
	// frags holds encapsulated pixel data: the Basic Offset Table, then the
	// fragments.
	frags     [][]byte
	undefined bool // SQ or encapsulated: undefined length
}

// dataset is an unordered list of elements; encoding sorts them by tag.
type dataset struct {
	elems []element
}

// set adds el, replacing an element with the same tag.
func (d *dataset) set(el element) {
	for i := range d.elems {
		if d.elems[i].tag == el.tag {
			d.elems[i] = el
			return
		}
	}
	d.elems = append(d.elems, el)
}

// has reports whether the dataset holds tag t.
func (d *dataset) has(t uint32) bool {
	for i := range d.elems {
		if d.elems[i].tag == t {
			return true
		}
	}
	return false
}

// get returns the element with tag t, or nil.
func (d *dataset) get(t uint32) *element {
	for i := range d.elems {
		if d.elems[i].tag == t {
			return &d.elems[i]
		}
	}
	return nil
}

// sorted returns the elements in ascending tag order.
func (d *dataset) sorted() []element {
	out := append([]element(nil), d.elems...)
	sort.Slice(out, func(i, j int) bool { return out[i].tag < out[j].tag })
	return out
}

// dictEntry returns the dictionary VR and keyword of a public tag.
func dictEntry(t uint32) (vr, keyword string, ok bool) {
	info, err := tag.Find(tag.Tag{Group: uint16(t >> 16), Element: uint16(t)})
	if err != nil || len(info.VRs) == 0 {
		return "", "", false
	}
	return info.VRs[0], info.Keyword, true
}

// keywordOf names a tag for attribute paths: the dictionary keyword, or
// "(gggg,eeee)" for private and unknown tags.
func keywordOf(t uint32) string {
	if uint16(t>>16)%2 == 0 {
		if _, kw, ok := dictEntry(t); ok && kw != "" {
			return kw
		}
	}
	return fmt.Sprintf("(%04X,%04X)", t>>16, t&0xFFFF)
}

// isLongVR reports whether an explicit-VR header for vr has a 4-byte length.
func isLongVR(vr string) bool {
	switch vr {
	case "OB", "OD", "OF", "OL", "OV", "OW", "SQ", "UC", "UN", "UR", "UT", "SV", "UV":
		return true
	}
	return false
}
