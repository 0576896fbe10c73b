package transport

import (
	"encoding/binary"
	"errors"
)

// errMalformed is returned when a payload does not decode.
var errMalformed = errors.New("transport: malformed payload")

// appendBytes appends a uint32 length prefix and b.
func appendBytes(dst, b []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(b)))
	return append(dst, b...)
}

// appendString appends a uint32 length prefix and s.
func appendString(dst []byte, s string) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(s)))
	return append(dst, s...)
}

// appendUint64 appends v big-endian.
func appendUint64(dst []byte, v uint64) []byte {
	return binary.BigEndian.AppendUint64(dst, v)
}

// decoder reads the fields written by the append helpers. The first failure
// sticks; check err once at the end.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = errMalformed
	}
	d.b = nil
}

func (d *decoder) fixed(n int) []byte {
	if d.err != nil || len(d.b) < n {
		d.fail()
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes() []byte {
	l := d.fixed(4)
	if l == nil {
		return nil
	}
	n := binary.BigEndian.Uint32(l)
	if uint64(n) > uint64(len(d.b)) {
		d.fail()
		return nil
	}
	return d.fixed(int(n))
}

func (d *decoder) string() string { return string(d.bytes()) }

func (d *decoder) uint64() uint64 {
	v := d.fixed(8)
	if v == nil {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

func (d *decoder) uint16() uint16 {
	v := d.fixed(2)
	if v == nil {
		return 0
	}
	return binary.BigEndian.Uint16(v)
}

// finish reports the sticky error, or errMalformed if bytes are left over.
func (d *decoder) finish() error {
	if d.err != nil {
		return d.err
	}
	if len(d.b) != 0 {
		return errMalformed
	}
	return nil
}
