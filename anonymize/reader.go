package anonymize

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Limits that keep a hostile file from exhausting memory or the stack.
const (
	// maxElementSize bounds any value held in memory (everything but the
	// top-level pixel data, which is streamed).
	maxElementSize = 48 << 20
	// maxHeaderBytes bounds all values held in memory for one file. Files
	// beyond it (a waveform of hours, a bomb of a deflated data set) are
	// quarantined: memory stays bounded whatever arrives.
	maxHeaderBytes = 64 << 20
	// maxDepth bounds sequence nesting.
	maxDepth = 64
)

const undefinedLength = 0xFFFFFFFF

// Item and delimiter tags.
const (
	tagItem          = Tag(0xFFFEE000)
	tagItemDelim     = Tag(0xFFFEE00D)
	tagSequenceDelim = Tag(0xFFFEE0DD)
)

// pixelVR reports whether vr can hold streamed pixel data.
func pixelVR(vr string) bool {
	switch vr {
	case "OB", "OW", "OF", "OD", "OL", "OV", "UN":
		return true
	}
	return false
}

// Pixel data tags, streamed when at the top level.
func isPixelTag(t Tag) bool {
	return t == 0x7FE00010 || t == 0x7FE00008 || t == 0x7FE00009
}

// parser reads data elements from a stream.
type parser struct {
	r *bufio.Reader
	// src is the reader under r when pixel data may bypass the buffers
	// (nil for deflated data sets).
	src      io.Reader
	order    binary.ByteOrder
	explicit bool
	pos      int64
	held     int64 // bytes of values held in memory so far
	buf      [12]byte
}

func newParser(r *bufio.Reader, s syntax) *parser {
	return &parser{r: r, order: s.order(), explicit: s.explicit}
}

func (p *parser) read(b []byte) error {
	n, err := io.ReadFull(p.r, b)
	p.pos += int64(n)
	return err
}

// header is an element header as read.
type header struct {
	tag    Tag
	vr     string
	length uint32
}

// readHeader reads one element header. io.EOF is returned only at a clean
// element boundary.
func (p *parser) readHeader() (header, error) {
	b := p.buf[:]
	if err := p.read(b[:4]); err != nil {
		if errors.Is(err, io.EOF) {
			return header{}, io.EOF
		}
		return header{}, quarantine(ErrMalformed, "truncated element header at offset %d", p.pos)
	}
	t := NewTag(p.order.Uint16(b[0:2]), p.order.Uint16(b[2:4]))
	if t.Group() == 0xFFFE {
		if err := p.read(b[4:8]); err != nil {
			return header{}, quarantine(ErrMalformed, "truncated item header at offset %d", p.pos)
		}
		return header{tag: t, length: p.order.Uint32(b[4:8])}, nil
	}
	if !p.explicit {
		if err := p.read(b[4:8]); err != nil {
			return header{}, quarantine(ErrMalformed, "truncated element %s", t)
		}
		return header{tag: t, vr: implicitVR(t), length: p.order.Uint32(b[4:8])}, nil
	}
	if err := p.read(b[4:6]); err != nil {
		return header{}, quarantine(ErrMalformed, "truncated element %s", t)
	}
	vr := string(b[4:6])
	if !knownVR(vr) {
		return header{}, quarantine(ErrUnsupported, "unknown VR in element %s", t)
	}
	if longLengthVR(vr) {
		if err := p.read(b[6:12]); err != nil {
			return header{}, quarantine(ErrMalformed, "truncated element %s", t)
		}
		return header{tag: t, vr: vr, length: p.order.Uint32(b[8:12])}, nil
	}
	if err := p.read(b[6:8]); err != nil {
		return header{}, quarantine(ErrMalformed, "truncated element %s", t)
	}
	return header{tag: t, vr: vr, length: uint32(p.order.Uint16(b[6:8]))}, nil
}

// implicitVR is the VR of a tag read with implicit VR.
func implicitVR(t Tag) string {
	switch {
	case t.Element() == 0:
		return "UL"
	case t.IsPrivate() && t.Element() >= 0x10 && t.Element() <= 0xFF:
		return "LO"
	case t.IsPrivate():
		return "UN"
	case isPixelTag(t) && t == 0x7FE00010:
		return "OW"
	}
	if vr := dictVR(t); vr != "" {
		return vr
	}
	return "UN"
}

// readValue reads n bytes, growing the buffer as data arrives.
func (p *parser) readValue(t Tag, n uint32) ([]byte, error) {
	if n > maxElementSize {
		return nil, quarantine(ErrUnsupported, "element %s is larger than %d bytes", t, maxElementSize)
	}
	p.held += int64(n)
	if p.held > maxHeaderBytes {
		return nil, quarantine(ErrUnsupported, "attributes other than pixel data exceed %d bytes", maxHeaderBytes)
	}
	// The length is bounded above, so the value is read into one exact
	// allocation (a lying length costs at most maxElementSize, briefly).
	v := make([]byte, n)
	if err := p.read(v); err != nil {
		return nil, quarantine(ErrMalformed, "truncated value of %s", t)
	}
	return v, nil
}

// readMode says where a data set being read sits.
type readMode int

const (
	modeItem readMode = iota // a sequence item
	modeTop                  // the top level, stopping before pixel data
	modeTail                 // the top level after pixel data
)

// readDataset reads elements until end (an absolute offset; -1 means until
// an item delimiter or, at the top level, end of input). At the top level it
// stops before pixel data and returns that element's header.
func (p *parser) readDataset(end int64, depth int, mode readMode) (*dataset, *header, error) {
	return p.readDatasetAfter(end, depth, mode, 0)
}

// readDatasetAfter is readDataset for a data set whose tags must all be
// greater than after (the part of the top level that follows pixel data).
func (p *parser) readDatasetAfter(end int64, depth int, mode readMode, after Tag) (*dataset, *header, error) {
	top := mode != modeItem
	if depth > maxDepth {
		return nil, nil, quarantine(ErrUnsupported, "sequences nested deeper than %d", maxDepth)
	}
	ds := &dataset{}
	last := after
	var seen map[Tag]bool // built only once tags arrive out of order
	for end < 0 || p.pos < end {
		h, err := p.readHeader()
		if err == io.EOF {
			if end < 0 && top {
				return ds, nil, nil
			}
			return nil, nil, quarantine(ErrMalformed, "truncated data set")
		}
		if err != nil {
			return nil, nil, err
		}
		if h.tag == tagItemDelim {
			if end >= 0 || top {
				return nil, nil, quarantine(ErrMalformed, "unexpected item delimiter at offset %d", p.pos)
			}
			return ds, nil, nil
		}
		if h.tag.Group() == 0xFFFE {
			return nil, nil, quarantine(ErrMalformed, "unexpected item tag at offset %d", p.pos)
		}
		if mode == modeTop && isPixelTag(h.tag) {
			if p.explicit && !pixelVR(h.vr) {
				return nil, nil, quarantine(ErrMalformed, "pixel data %s with VR %s", h.tag, h.vr)
			}
			return ds, &h, nil
		}
		if mode == modeTail && h.tag <= after {
			return nil, nil, quarantine(ErrMalformed, "element %s after pixel data out of order", h.tag)
		}
		switch {
		case h.tag > last:
			if seen != nil {
				seen[h.tag] = true
			}
			last = h.tag
		case h.tag == last && (len(ds.elems) > 0 || mode == modeTail):
			return nil, nil, quarantine(ErrMalformed, "repeated element %s", h.tag)
		default:
			// Out-of-order tags are tolerated (they are re-sorted on
			// output) but a repeated tag is not.
			if seen == nil {
				seen = make(map[Tag]bool, len(ds.elems)+1)
				for _, e := range ds.elems {
					seen[e.tag] = true
				}
			}
			if seen[h.tag] {
				return nil, nil, quarantine(ErrMalformed, "repeated element %s", h.tag)
			}
			seen[h.tag] = true
		}
		e, err := p.readElement(h, depth)
		if err != nil {
			return nil, nil, err
		}
		ds.elems = append(ds.elems, e)
	}
	if end >= 0 && p.pos != end {
		return nil, nil, quarantine(ErrMalformed, "item length mismatch at offset %d", p.pos)
	}
	return ds, nil, nil
}

// readElement reads the value of the element whose header was just read.
func (p *parser) readElement(h header, depth int) (*element, error) {
	e := &element{tag: h.tag, vr: h.vr}
	if h.length == undefinedLength {
		switch h.vr {
		case "SQ", "UN":
			return p.readSequence(e, -1, depth, h.vr == "UN")
		case "OB", "OW":
			if !isPixelTag(h.tag) {
				return nil, quarantine(ErrMalformed, "undefined length on %s", h.tag)
			}
			frags, err := p.readFragments(h.tag)
			if err != nil {
				return nil, err
			}
			e.fragments, e.encapsulated = frags, true
			return e, nil
		default:
			return nil, quarantine(ErrMalformed, "undefined length on %s %s", h.vr, h.tag)
		}
	}
	if h.vr == "SQ" {
		return p.readSequence(e, p.pos+int64(h.length), depth, false)
	}
	v, err := p.readValue(h.tag, h.length)
	if err != nil {
		return nil, err
	}
	e.value = v
	// A private or unknown UN value that holds items is a sequence
	// (implicit VR little endian, PS3.5 6.2.2): parse it, so that what it
	// holds is anonymised like the rest if the element is kept.
	if e.vr == "UN" && looksLikeItems(v) {
		sub := &parser{r: bufio.NewReader(bytes.NewReader(v)), order: binary.LittleEndian}
		if sq, err := sub.readSequence(&element{tag: e.tag, vr: "SQ"}, int64(len(v)), depth, false); err == nil {
			return sq, nil
		}
	}
	// A standard attribute sent as UN (after a conversion by some other
	// tool) gets its dictionary VR back, so actions can understand it.
	if e.vr == "UN" && !e.tag.IsPrivate() {
		if vr := dictVR(e.tag); vr != "" && vr != "UN" {
			if vr == "SQ" {
				sub := &parser{r: bufio.NewReader(bytes.NewReader(v)), order: binary.LittleEndian}
				return sub.readSequence(&element{tag: e.tag, vr: "SQ"}, int64(len(v)), depth, false)
			}
			if p.order == binary.LittleEndian || isStringVR(vr) {
				e.vr = vr
			}
		}
	}
	return e, nil
}

// readSequence reads items until end (absolute offset) or, for end < 0, a
// sequence delimiter. implicitItems switches to implicit VR little endian
// inside the items, as PS3.5 requires for UN sequences of undefined length.
func (p *parser) readSequence(e *element, end int64, depth int, implicitItems bool) (*element, error) {
	e.vr = "SQ"
	saved := p.explicit
	savedOrder := p.order
	if implicitItems {
		p.explicit, p.order = false, binary.LittleEndian
	}
	defer func() { p.explicit, p.order = saved, savedOrder }()
	for end < 0 || p.pos < end {
		h, err := p.readHeader()
		if err != nil {
			if err == io.EOF {
				return nil, quarantine(ErrMalformed, "truncated sequence %s", e.tag)
			}
			return nil, err
		}
		switch h.tag {
		case tagSequenceDelim:
			// Some converters keep the delimiter of an undefined-length
			// sequence inside a defined-length UN value: tolerated only as
			// the value's very last bytes.
			if end >= 0 && p.pos != end {
				return nil, quarantine(ErrMalformed, "unexpected sequence delimiter in %s", e.tag)
			}
			return e, nil
		case tagItem:
			itemEnd := int64(-1)
			if h.length != undefinedLength {
				itemEnd = p.pos + int64(h.length)
				if end >= 0 && itemEnd > end {
					return nil, quarantine(ErrMalformed, "item longer than sequence %s", e.tag)
				}
			}
			item, _, err := p.readDataset(itemEnd, depth+1, modeItem)
			if err != nil {
				return nil, err
			}
			e.items = append(e.items, item)
		default:
			return nil, quarantine(ErrMalformed, "unexpected element in sequence %s", e.tag)
		}
	}
	if p.pos != end {
		return nil, quarantine(ErrMalformed, "sequence length mismatch in %s", e.tag)
	}
	return e, nil
}

// readFragments reads the items of encapsulated pixel data held in memory.
func (p *parser) readFragments(t Tag) ([][]byte, error) {
	var frags [][]byte
	for {
		h, err := p.readHeader()
		if err != nil {
			return nil, quarantine(ErrMalformed, "truncated encapsulated %s", t)
		}
		switch h.tag {
		case tagSequenceDelim:
			return frags, nil
		case tagItem:
			if h.length == undefinedLength {
				return nil, quarantine(ErrMalformed, "undefined fragment length in %s", t)
			}
			v, err := p.readValue(t, h.length)
			if err != nil {
				return nil, err
			}
			frags = append(frags, v)
		default:
			return nil, quarantine(ErrMalformed, "unexpected element in encapsulated %s", t)
		}
	}
}

// copyPixels streams the value of top-level pixel data from p to w.
func (p *parser) copyPixels(w *writer, h *header) error {
	w.header(h.tag, h.vr, h.length)
	if h.length != undefinedLength && p.src != nil && w.dst != nil {
		return p.copyDirect(w, int64(h.length))
	}
	if h.length != undefinedLength {
		n, err := io.CopyN(trackingWriter{w}, p.r, int64(h.length))
		p.pos += n
		if err != nil {
			if w.err != nil {
				return fmt.Errorf("anonymize: write: %w", w.err)
			}
			return quarantine(ErrMalformed, "truncated pixel data")
		}
		return w.err
	}
	for {
		ih, err := p.readHeader()
		if err != nil {
			return quarantine(ErrMalformed, "truncated encapsulated pixel data")
		}
		switch ih.tag {
		case tagSequenceDelim:
			w.header(tagSequenceDelim, "", 0)
			return w.err
		case tagItem:
			if ih.length == undefinedLength {
				return quarantine(ErrMalformed, "undefined fragment length in pixel data")
			}
			w.header(tagItem, "", ih.length)
			n, err := io.CopyN(trackingWriter{w}, p.r, int64(ih.length))
			p.pos += n
			if err != nil {
				if w.err != nil {
					return fmt.Errorf("anonymize: write: %w", w.err)
				}
				return quarantine(ErrMalformed, "truncated pixel data fragment")
			}
		default:
			return quarantine(ErrMalformed, "unexpected element in encapsulated pixel data")
		}
	}
}

func (t Tag) String() string {
	return fmt.Sprintf("(%04X,%04X)", t.Group(), t.Element())
}

// copyDirect copies n bytes of pixel data around both buffers, so that
// file-to-file copies can use copy_file_range (no copy through user space).
func (p *parser) copyDirect(w *writer, n int64) error {
	if err := w.w.Flush(); err != nil {
		w.err = err
		return fmt.Errorf("anonymize: write: %w", err)
	}
	take := min(int64(p.r.Buffered()), n)
	if take > 0 {
		b, _ := p.r.Peek(int(take))
		if _, err := w.dst.Write(b); err != nil {
			w.err = err
			return fmt.Errorf("anonymize: write: %w", err)
		}
		p.r.Discard(int(take))
	}
	rest := n - take
	m, err := io.CopyN(w.dst, p.src, rest)
	p.pos += take + m
	w.n += take + m
	if err != nil {
		if m < rest && (err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF)) {
			return quarantine(ErrMalformed, "truncated pixel data")
		}
		w.err = err
		return fmt.Errorf("anonymize: write: %w", err)
	}
	return nil
}

// trackingWriter writes through a writer's buffer, recording write errors
// in it so they are not mistaken for a truncated input.
type trackingWriter struct{ w *writer }

func (t trackingWriter) Write(b []byte) (int, error) {
	if t.w.err != nil {
		return 0, t.w.err
	}
	n, err := t.w.w.Write(b)
	t.w.n += int64(n)
	if err != nil {
		t.w.err = err
	}
	return n, err
}

// looksLikeItems reports whether a value starts with a sequence item tag
// in little endian.
func looksLikeItems(v []byte) bool {
	return len(v) >= 8 && v[0] == 0xFE && v[1] == 0xFF && v[2] == 0x00 && v[3] == 0xE0
}
