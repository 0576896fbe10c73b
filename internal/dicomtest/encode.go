package dicomtest

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Item and delimitation tags.
const (
	tagItem        uint32 = 0xFFFEE000
	tagItemDelim   uint32 = 0xFFFEE00D
	tagSeqDelim    uint32 = 0xFFFEE0DD
	undefinedLen   uint32 = 0xFFFFFFFF
	tagPixelData   uint32 = 0x7FE00010
	tagTrailingPad uint32 = 0xFFFCFFFC
)

// encoder appends a data set to buf in one transfer syntax's encoding.
type encoder struct {
	buf      []byte
	explicit bool
	order    binary.AppendByteOrder
}

func (e *encoder) u16(v uint16) { e.buf = e.order.AppendUint16(e.buf, v) }
func (e *encoder) u32(v uint32) { e.buf = e.order.AppendUint32(e.buf, v) }

func (e *encoder) tag(t uint32) {
	e.u16(uint16(t >> 16))
	e.u16(uint16(t))
}

// header writes a tag, VR (explicit only) and length.
func (e *encoder) header(t uint32, vr string, length uint32) {
	e.tag(t)
	if !e.explicit || t>>16 == 0xFFFE {
		e.u32(length)
		return
	}
	e.buf = append(e.buf, vr[0], vr[1])
	if isLongVR(vr) {
		e.buf = append(e.buf, 0, 0)
		e.u32(length)
		return
	}
	e.u16(uint16(length))
}

// dataset writes every element of d in tag order.
func (e *encoder) dataset(d *dataset) error {
	for _, el := range d.sorted() {
		if err := e.element(&el); err != nil {
			return fmt.Errorf("element (%04X,%04X): %w", el.tag>>16, el.tag&0xFFFF, err)
		}
	}
	return nil
}

// element writes one element.
func (e *encoder) element(el *element) error {
	switch {
	case el.vr == "SQ":
		return e.sequence(el)
	case el.frags != nil:
		e.header(el.tag, el.vr, undefinedLen)
		for _, f := range el.frags {
			e.header(tagItem, "", uint32(len(f)))
			e.buf = append(e.buf, f...)
		}
		e.header(tagSeqDelim, "", 0)
		return nil
	}
	v, err := e.value(el)
	if err != nil {
		return err
	}
	if !isLongVR(el.vr) && e.explicit && len(v) > 0xFFFF {
		return fmt.Errorf("value of %d bytes too long for VR %s", len(v), el.vr)
	}
	e.header(el.tag, el.vr, uint32(len(v)))
	e.buf = append(e.buf, v...)
	return nil
}

// sequence writes an SQ with defined or undefined length, and its items
// with the same kind of length.
func (e *encoder) sequence(el *element) error {
	if el.undefined {
		e.header(el.tag, "SQ", undefinedLen)
		for _, it := range el.items {
			e.header(tagItem, "", undefinedLen)
			if err := e.dataset(it); err != nil {
				return err
			}
			e.header(tagItemDelim, "", 0)
		}
		e.header(tagSeqDelim, "", 0)
		return nil
	}
	sub := encoder{explicit: e.explicit, order: e.order}
	for _, it := range el.items {
		inner := encoder{explicit: e.explicit, order: e.order}
		if err := inner.dataset(it); err != nil {
			return err
		}
		sub.header(tagItem, "", uint32(len(inner.buf)))
		sub.buf = append(sub.buf, inner.buf...)
	}
	e.header(el.tag, "SQ", uint32(len(sub.buf)))
	e.buf = append(e.buf, sub.buf...)
	return nil
}

// value returns the padded value bytes of a non-sequence element.
func (e *encoder) value(el *element) ([]byte, error) {
	var v []byte
	switch {
	case el.raw != nil:
		v = el.raw
	case el.words != nil:
		v = make([]byte, 0, 2*len(el.words))
		for _, w := range el.words {
			v = e.order.AppendUint16(v, w)
		}
	case el.nums != nil:
		for _, n := range el.nums {
			switch el.vr {
			case "US", "SS":
				v = e.order.AppendUint16(v, uint16(n))
			case "UL", "SL":
				v = e.order.AppendUint32(v, uint32(n))
			case "AT":
				v = e.order.AppendUint16(v, uint16(n>>16))
				v = e.order.AppendUint16(v, uint16(n))
			default:
				return nil, fmt.Errorf("numbers for VR %s", el.vr)
			}
		}
	case el.floats != nil:
		for _, f := range el.floats {
			switch el.vr {
			case "FL":
				v = e.order.AppendUint32(v, math.Float32bits(float32(f)))
			case "FD":
				v = e.order.AppendUint64(v, math.Float64bits(f))
			default:
				return nil, fmt.Errorf("floats for VR %s", el.vr)
			}
		}
	default:
		v = []byte(el.str)
	}
	if len(v)%2 == 1 {
		pad := byte(' ')
		switch el.vr {
		case "UI", "OB", "UN", "OW":
			pad = 0
		}
		v = append(v[:len(v):len(v)], pad)
	}
	return v, nil
}
