package anonymize

import (
	"bufio"
	"context"
	"image"
	"image/color"
	"io"
)

// Preview is the first frame of a file with the regions a pixel rule would
// blank, for checking rules (`dicomgate policy test --png`). The image holds
// patient pixels: callers keep it at the site.
type Preview struct {
	// Image is frame 1, windowed to 8 bits per sample.
	Image image.Image
	// Rule names the pixel rule that matched ("" when none did).
	Rule string
	// Regions are the rule's rectangles (empty when no rule matched).
	Regions []Rect
}

// Preview reads a file and returns its first frame and the regions the
// policy would blank. Native and RLE pixel data are supported.
func (a *Anonymizer) Preview(ctx context.Context, r io.Reader) (*Preview, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var frame []byte
	f, pix, p, err := a.readForPreview(r)
	if err != nil {
		return nil, err
	}
	g, err := readGeometry(f.top, f.syn.order())
	if err != nil {
		return nil, err
	}
	g.swap8 = g.bigEndian && g.bytesPer == 1 && pix.vr == "OW"
	switch {
	case pix.length != undefinedLength:
		if int64(pix.length) < int64(g.frameBytes) {
			return nil, quarantine(ErrMalformed, "truncated pixel data")
		}
		frame = make([]byte, g.frameBytes)
		if err := p.read(frame); err != nil {
			return nil, quarantine(ErrMalformed, "truncated pixel data")
		}
	case f.syn.uid == tsRLE:
		frags, err := p.readFragments(pix.tag)
		if err != nil || len(frags) < 2 {
			return nil, quarantine(ErrMalformed, "rle pixel data without frames")
		}
		segs, err := rleDecode(frags[1], g)
		if err != nil {
			return nil, err
		}
		// Back to native layout, planar configuration 0, in file order.
		frame = make([]byte, g.frameBytes)
		for k, seg := range segs {
			s, b := k/g.bytesPer, k%g.bytesPer
			if !g.bigEndian {
				b = g.bytesPer - 1 - b
			}
			for i, v := range seg {
				frame[(i*g.spp+s)*g.bytesPer+b] = v
			}
		}
		g.planar = false
	default:
		return nil, quarantine(ErrUnsupported, "preview of compressed pixel data other than rle")
	}
	out := &Preview{Image: g.image(frame)}
	if f.pix != nil {
		out.Rule, out.Regions = f.pix.rule.name(), f.pix.rule.Regions
	}
	return out, nil
}

// readForPreview parses the header and finds the pixel rule.
func (a *Anonymizer) readForPreview(r io.Reader) (*file, *header, *parser, error) {
	br := newBufReader(r)
	_, syn, err := readPreamble(br)
	if err != nil {
		return nil, nil, nil, err
	}
	if syn.deflated {
		return nil, nil, nil, quarantine(ErrUnsupported, "preview of deflated files")
	}
	p := newParser(br, syn)
	ds, pix, err := p.readDataset(-1, 0, modeTop)
	if err != nil {
		return nil, nil, nil, err
	}
	if pix == nil || pix.tag != tagPixelData {
		return nil, nil, nil, quarantine(ErrUnsupported, "no pixel data to preview")
	}
	f := a.newFile(ds, syn)
	for i := range a.p.PixelRules {
		if f.holds(a.p.PixelRules[i].When) {
			f.pix = &pixelPlan{rule: &a.p.PixelRules[i]}
			break
		}
	}
	return f, pix, p, nil
}

// sample returns sample s of pixel (x, y) as a signed or unsigned value.
func (g geometry) sample(frame []byte, x, y, s int) int64 {
	var off int
	if g.planar {
		off = ((s*g.rows+y)*g.cols + x) * g.bytesPer
	} else {
		off = ((y*g.cols+x)*g.spp + s) * g.bytesPer
	}
	var v uint64
	for i := 0; i < g.bytesPer; i++ {
		j := off + i
		if g.swap8 {
			j ^= 1
		}
		b := uint64(frame[j])
		if g.bigEndian {
			v = v<<8 | b
		} else {
			v |= b << (8 * i)
		}
	}
	v &= 1<<uint(g.bitsStore) - 1
	if g.signed && v>>(uint(g.bitsStore)-1) == 1 {
		return int64(v) - 1<<uint(g.bitsStore)
	}
	return int64(v)
}

// image converts a frame to 8 bits: monochrome is windowed to its own
// minimum and maximum (inverted for MONOCHROME1), colour samples shifted.
func (g geometry) image(frame []byte) image.Image {
	if g.spp == 1 {
		lo, hi := int64(1)<<62, -int64(1)<<62
		for y := 0; y < g.rows; y++ {
			for x := 0; x < g.cols; x++ {
				v := g.sample(frame, x, y, 0)
				lo, hi = min(lo, v), max(hi, v)
			}
		}
		img := image.NewGray(image.Rect(0, 0, g.cols, g.rows))
		for y := 0; y < g.rows; y++ {
			for x := 0; x < g.cols; x++ {
				v := uint8(0)
				if hi > lo {
					v = uint8((g.sample(frame, x, y, 0) - lo) * 255 / (hi - lo))
				}
				if g.photometric == "MONOCHROME1" {
					v = 255 - v
				}
				img.SetGray(x, y, color.Gray{Y: v})
			}
		}
		return img
	}
	img := image.NewRGBA(image.Rect(0, 0, g.cols, g.rows))
	shift := uint(max(g.bitsStore-8, 0))
	for y := 0; y < g.rows; y++ {
		for x := 0; x < g.cols; x++ {
			c := [3]uint8{}
			for s := 0; s < 3; s++ {
				c[s] = uint8(g.sample(frame, x, y, s) >> shift)
			}
			img.SetRGBA(x, y, color.RGBA{R: c[0], G: c[1], B: c[2], A: 255})
		}
	}
	return img
}

func newBufReader(r io.Reader) *bufio.Reader { return bufio.NewReaderSize(r, 64<<10) }
