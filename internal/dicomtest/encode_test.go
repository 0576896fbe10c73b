package dicomtest

import (
	"bytes"
	"encoding/binary"
	"testing"
)

func TestElementEncoding(t *testing.T) {
	name := element{tag: 0x00100010, vr: "PN", str: "Doe^J"}
	seq := element{tag: 0x00081140, vr: "SQ", undefined: true, items: []*dataset{{}}}
	defSeq := element{tag: 0x00081140, vr: "SQ", items: []*dataset{{elems: []element{{tag: 0x00081150, vr: "UI", str: "1.2"}}}}}
	ow := element{tag: tagPixelData, vr: "OW", words: []uint16{0x0102}}
	tests := []struct {
		name     string
		el       element
		explicit bool
		order    binary.AppendByteOrder
		want     []byte
	}{
		{"implicit LE text padded", name, false, binary.LittleEndian,
			[]byte{0x10, 0, 0x10, 0, 6, 0, 0, 0, 'D', 'o', 'e', '^', 'J', ' '}},
		{"explicit LE text", name, true, binary.LittleEndian,
			[]byte{0x10, 0, 0x10, 0, 'P', 'N', 6, 0, 'D', 'o', 'e', '^', 'J', ' '}},
		{"explicit BE text", name, true, binary.BigEndian,
			[]byte{0, 0x10, 0, 0x10, 'P', 'N', 0, 6, 'D', 'o', 'e', '^', 'J', ' '}},
		{"explicit LE undefined SQ", seq, true, binary.LittleEndian, []byte{
			0x08, 0, 0x40, 0x11, 'S', 'Q', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF,
			0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF,
			0xFE, 0xFF, 0x0D, 0xE0, 0, 0, 0, 0,
			0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0}},
		{"explicit BE undefined SQ", seq, true, binary.BigEndian, []byte{
			0, 0x08, 0x11, 0x40, 'S', 'Q', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF,
			0xFF, 0xFE, 0xE0, 0x00, 0xFF, 0xFF, 0xFF, 0xFF,
			0xFF, 0xFE, 0xE0, 0x0D, 0, 0, 0, 0,
			0xFF, 0xFE, 0xE0, 0xDD, 0, 0, 0, 0}},
		{"implicit LE defined SQ, UI padded with NUL", defSeq, false, binary.LittleEndian, []byte{
			0x08, 0, 0x40, 0x11, 20, 0, 0, 0,
			0xFE, 0xFF, 0x00, 0xE0, 12, 0, 0, 0,
			0x08, 0, 0x50, 0x11, 4, 0, 0, 0, '1', '.', '2', 0}},
		{"explicit BE OW swapped", ow, true, binary.BigEndian,
			[]byte{0x7F, 0xE0, 0, 0x10, 'O', 'W', 0, 0, 0, 0, 0, 2, 0x01, 0x02}},
		{"explicit LE OW", ow, true, binary.LittleEndian,
			[]byte{0xE0, 0x7F, 0x10, 0, 'O', 'W', 0, 0, 2, 0, 0, 0, 0x02, 0x01}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := encoder{explicit: tc.explicit, order: tc.order}
			if err := e.element(&tc.el); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(e.buf, tc.want) {
				t.Errorf("got  % x\nwant % x", e.buf, tc.want)
			}
		})
	}
}

func TestShortVRTooLong(t *testing.T) {
	e := encoder{explicit: true, order: binary.LittleEndian}
	el := element{tag: 0x00104000, vr: "LT", str: string(make([]byte, 70000))}
	if err := e.element(&el); err == nil {
		t.Fatal("want error for a 70000-byte LT in explicit VR")
	}
}

func TestPackBitsRoundTrip(t *testing.T) {
	long := bytes.Repeat([]byte{7}, 300)
	lit := make([]byte, 300)
	for i := range lit {
		lit[i] = byte(i * 7)
	}
	tests := map[string][]byte{
		"empty":         {},
		"single":        {9},
		"pair":          {4, 4},
		"literal":       {1, 2, 3, 4, 5},
		"long run":      long,
		"long literal":  lit,
		"mixed":         append(append([]byte{1, 2, 2, 3}, long[:130]...), lit[:200]...),
		"run then lone": {5, 5, 5, 6},
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			enc := packBits(nil, in)
			if got := unpackBits(enc); !bytes.Equal(got, in) {
				t.Fatalf("round trip: got %v want %v (encoded % x)", got, in, enc)
			}
		})
	}
}

func TestRLEFrameDecodes(t *testing.T) {
	tests := []struct {
		name             string
		rows, cols, bpsp int
		pixels           []byte
	}{
		{"16-bit phantom", 16, 16, 2, phantom16(16, 16, 3, 1)},
		{"8-bit phantom", 16, 20, 1, phantom8(16, 20, 1)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := rleFrame(tc.pixels, tc.rows, tc.cols, tc.bpsp)
			if n := binary.LittleEndian.Uint32(f); int(n) != tc.bpsp {
				t.Fatalf("segments = %d, want %d", n, tc.bpsp)
			}
			if len(f)%2 != 0 {
				t.Fatalf("odd frame length %d", len(f))
			}
			got := make([]byte, len(tc.pixels))
			for s := range tc.bpsp {
				start := binary.LittleEndian.Uint32(f[4+4*s:])
				end := uint32(len(f))
				if s+1 < tc.bpsp {
					end = binary.LittleEndian.Uint32(f[8+4*s:])
				}
				plane := unpackBits(f[start:end])
				if len(plane) < tc.rows*tc.cols {
					t.Fatalf("segment %d decodes to %d bytes, want %d", s, len(plane), tc.rows*tc.cols)
				}
				for i := range tc.rows * tc.cols {
					got[i*tc.bpsp+tc.bpsp-1-s] = plane[i]
				}
			}
			if !bytes.Equal(got, tc.pixels) {
				t.Fatal("decoded RLE frame differs from the input pixels")
			}
		})
	}
}
