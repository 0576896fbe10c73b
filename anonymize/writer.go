package anonymize

import (
	"bufio"
	"encoding/binary"
	"io"
)

// writer encodes data elements. Sequences and items are written with
// undefined length, so nothing needs to be measured before it is written.
type writer struct {
	w *bufio.Writer
	// dst is the writer under w when pixel data may bypass the buffers
	// (nil for deflated data sets).
	dst      io.Writer
	order    binary.ByteOrder
	explicit bool
	err      error
	n        int64
	buf      [12]byte
}

func newWriter(w io.Writer, s syntax) *writer {
	return &writer{w: bufio.NewWriterSize(w, 64<<10), order: s.order(), explicit: s.explicit}
}

func (w *writer) write(b []byte) {
	if w.err != nil {
		return
	}
	n, err := w.w.Write(b)
	w.n += int64(n)
	w.err = err
}

// header writes an element, item or delimiter header.
func (w *writer) header(t Tag, vr string, length uint32) {
	b := w.buf[:]
	w.order.PutUint16(b[0:2], t.Group())
	w.order.PutUint16(b[2:4], t.Element())
	if t.Group() == 0xFFFE || !w.explicit {
		w.order.PutUint32(b[4:8], length)
		w.write(b[:8])
		return
	}
	b[4], b[5] = vr[0], vr[1]
	if longLengthVR(vr) {
		b[6], b[7] = 0, 0
		w.order.PutUint32(b[8:12], length)
		w.write(b[:12])
		return
	}
	w.order.PutUint16(b[6:8], uint16(length))
	w.write(b[:8])
}

// element writes e and everything under it.
func (w *writer) element(e *element) {
	switch {
	case e.vr == "SQ":
		w.header(e.tag, "SQ", undefinedLength)
		for _, item := range e.items {
			w.header(tagItem, "", undefinedLength)
			w.dataset(item)
			w.header(tagItemDelim, "", 0)
		}
		w.header(tagSequenceDelim, "", 0)
	case e.encapsulated:
		w.header(e.tag, e.vr, undefinedLength)
		for _, f := range e.fragments {
			w.header(tagItem, "", uint32(len(f)+len(f)%2))
			w.write(f)
			if len(f)%2 == 1 {
				w.write([]byte{0})
			}
		}
		w.header(tagSequenceDelim, "", 0)
	default:
		v := e.value
		vr := e.vr
		if !longLengthVR(vr) && len(v) > 0xFFFE {
			// Too long for a short-length VR after an edit: cannot happen
			// with the engine's own values, but never write a bad length.
			vr = "UN"
		}
		pad := len(v) % 2
		w.header(e.tag, vr, uint32(len(v)+pad))
		w.write(v)
		if pad == 1 {
			w.write([]byte{padByte(vr)})
		}
	}
}

// padByte is the padding for odd-length values of vr.
func padByte(vr string) byte {
	if vr == "UI" || !isStringVR(vr) {
		return 0
	}
	return ' '
}

func (w *writer) dataset(d *dataset) {
	for _, e := range d.elems {
		w.element(e)
	}
}

func (w *writer) flush() error {
	if w.err != nil {
		return w.err
	}
	return w.w.Flush()
}
