package anonymize

import (
	"encoding/binary"
	"fmt"
	"io"
)

// RLE Lossless (PS3.5 Annex G): each frame is one fragment holding a
// 64-byte header (segment count and offsets, little endian) and up to 15
// PackBits segments, one per byte of each sample, most significant first.

// writeRLE re-encodes the selected frames of RLE pixel data with their
// regions blanked. Other frames are copied byte for byte. The basic offset
// table is written empty: offsets of later frames change, and computing
// them would mean holding every frame.
func (f *file) writeRLE(p *parser, w *writer, h *header) error {
	g, r := f.pix.geom, f.pix.rule
	w.header(h.tag, h.vr, undefinedLength)
	bot, err := p.readHeader()
	if err != nil || bot.tag != tagItem || bot.length == undefinedLength {
		return quarantine(ErrMalformed, "encapsulated pixel data without a basic offset table")
	}
	if _, err := io.CopyN(io.Discard, p.r, int64(bot.length)); err != nil {
		return quarantine(ErrMalformed, "truncated encapsulated pixel data")
	}
	p.pos += int64(bot.length)
	w.header(tagItem, "", 0)
	for i := 0; ; i++ {
		ih, err := p.readHeader()
		if err != nil {
			return quarantine(ErrMalformed, "truncated encapsulated pixel data")
		}
		switch ih.tag {
		case tagSequenceDelim:
			if i != g.frames {
				return quarantine(ErrUnsupported, "rle pixel data with %d fragments for %d frames", i, g.frames)
			}
			w.header(tagSequenceDelim, "", 0)
			return w.err
		case tagItem:
		default:
			return quarantine(ErrMalformed, "unexpected element in encapsulated pixel data")
		}
		if i >= g.frames {
			return quarantine(ErrUnsupported, "rle pixel data with more fragments than frames")
		}
		if ih.length == undefinedLength || ih.length > 2*maxFrameBytes {
			return quarantine(ErrMalformed, "bad rle fragment length")
		}
		if !r.frameSelected(i) {
			w.header(tagItem, "", ih.length)
			if err := p.copyN(w, int64(ih.length)); err != nil {
				return err
			}
			continue
		}
		frag := make([]byte, ih.length)
		if err := p.read(frag); err != nil {
			return quarantine(ErrMalformed, "truncated pixel data fragment")
		}
		segs, err := rleDecode(frag, g)
		if err != nil {
			return err
		}
		g.blankSegments(segs, r.Regions)
		out := rleEncode(segs, g)
		w.header(tagItem, "", uint32(len(out)))
		w.write(out)
		if w.err != nil {
			return fmt.Errorf("anonymize: write: %w", w.err)
		}
	}
}

// rleDecode returns the decoded segments of one RLE frame.
func rleDecode(frag []byte, g geometry) ([][]byte, error) {
	want := g.spp * g.bytesPer
	if len(frag) < 64 {
		return nil, quarantine(ErrMalformed, "rle fragment shorter than its header")
	}
	n := int(binary.LittleEndian.Uint32(frag))
	if n != want || n > 15 {
		return nil, quarantine(ErrUnsupported, "rle frame with %d segments where %d are expected", n, want)
	}
	size := g.rows * g.cols
	segs := make([][]byte, n)
	for k := 0; k < n; k++ {
		start := int(binary.LittleEndian.Uint32(frag[4+4*k:]))
		end := len(frag)
		if k+1 < n {
			end = int(binary.LittleEndian.Uint32(frag[8+4*k:]))
		}
		if start < 64 || start > end || end > len(frag) {
			return nil, quarantine(ErrMalformed, "bad rle segment offsets")
		}
		seg, ok := unpackBits(frag[start:end], size)
		if !ok {
			return nil, quarantine(ErrMalformed, "rle segment does not decode to one frame")
		}
		segs[k] = seg
	}
	return segs, nil
}

// unpackBits decodes a PackBits segment of exactly size bytes; trailing
// padding after the last run is ignored.
func unpackBits(src []byte, size int) ([]byte, bool) {
	out := make([]byte, 0, size)
	for i := 0; i < len(src) && len(out) < size; {
		c := int8(src[i])
		i++
		switch {
		case c >= 0:
			n := int(c) + 1
			if i+n > len(src) || len(out)+n > size {
				return nil, false
			}
			out = append(out, src[i:i+n]...)
			i += n
		case c != -128:
			n := 1 - int(c)
			if i >= len(src) || len(out)+n > size {
				return nil, false
			}
			for j := 0; j < n; j++ {
				out = append(out, src[i])
			}
			i++
		}
	}
	return out, len(out) == size
}

// blankSegments writes black into regions of decoded segments.
func (g geometry) blankSegments(segs [][]byte, regions []Rect) {
	fill := g.sampleBytes(true) // segments are most significant byte first
	for _, r := range regions {
		x0, y0, x1, y1, ok := g.clip(r)
		if !ok {
			continue
		}
		for k, seg := range segs {
			b := fill[k/g.bytesPer][k%g.bytesPer]
			for y := y0; y < y1; y++ {
				row := seg[y*g.cols+x0 : y*g.cols+x1]
				for i := range row {
					row[i] = b
				}
			}
		}
	}
}

// rleEncode builds one RLE frame (header and segments, even length).
func rleEncode(segs [][]byte, g geometry) []byte {
	out := make([]byte, 64, 64+len(segs)*(g.rows*g.cols+g.rows+2))
	binary.LittleEndian.PutUint32(out, uint32(len(segs)))
	for k, seg := range segs {
		binary.LittleEndian.PutUint32(out[4+4*k:], uint32(len(out)))
		for y := 0; y < g.rows; y++ {
			// Runs never cross a row (PS3.5 G.3.1).
			out = packBits(out, seg[y*g.cols:(y+1)*g.cols])
		}
		if len(out)%2 == 1 {
			out = append(out, 0)
		}
	}
	return out
}

// packBits appends the PackBits encoding of src to dst.
func packBits(dst, src []byte) []byte {
	for i := 0; i < len(src); {
		run := 1
		for i+run < len(src) && run < 128 && src[i+run] == src[i] {
			run++
		}
		if run >= 2 {
			dst = append(dst, byte(int8(1-run)), src[i])
			i += run
			continue
		}
		// A literal run lasts until two equal bytes start a repeat.
		j := i + 1
		for j < len(src) && j-i < 128 && !(j+1 < len(src) && src[j] == src[j+1]) {
			j++
		}
		dst = append(dst, byte(j-i-1))
		dst = append(dst, src[i:j]...)
		i = j
	}
	return dst
}
