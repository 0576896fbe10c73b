package anonymize

import (
	"encoding/binary"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Image Pixel module attributes the pixel cleaner reads.
const (
	tagSamplesPerPixel     = Tag(0x00280002)
	tagPhotometric         = Tag(0x00280004)
	tagPlanarConfiguration = Tag(0x00280006)
	tagNumberOfFrames      = Tag(0x00280008)
	tagRows                = Tag(0x00280010)
	tagColumns             = Tag(0x00280011)
	tagBitsAllocated       = Tag(0x00280100)
	tagBitsStored          = Tag(0x00280101)
	tagPixelRepresentation = Tag(0x00280103)
	tagPixelData           = Tag(0x7FE00010)
	tagExtendedOffsetTable = Tag(0x7FE00001)
	tagExtendedOffsetLens  = Tag(0x7FE00002)
)

const (
	// maxFrameBytes bounds the one frame held in memory while cleaning.
	maxFrameBytes = 256 << 20
	tsRLE         = "1.2.840.10008.1.2.5"
	tsJPEGBase    = "1.2.840.10008.1.2.4.50"
	codeCleanPix  = "113101"
)

// pixelPlan is how the pixel data of one file is cleaned.
type pixelPlan struct {
	rule *PixelRule
	geom geometry
	rle  bool
}

// admitPixels decides the pixel fate of a file with pixel data: a
// matching pixel rule cleans it; otherwise a declared burned-in annotation
// or a risky modality or SOP class quarantines it.
func (f *file) admitPixels(hasPixels bool) error {
	if !hasPixels {
		return nil
	}
	p := f.a.p
	for i := range p.PixelRules {
		r := &p.PixelRules[i]
		if f.holds(r.When) {
			f.pix = &pixelPlan{rule: r}
			f.report.PixelRule = r.name()
			f.report.Options = append(f.report.Options[:1], append([]string{codeCleanPix}, f.report.Options[1:]...)...)
			return nil
		}
	}
	if p.BurnedIn != BurnedInAllow && strings.EqualFold(f.top.str(tagBurnedInAnnotation), "YES") {
		return quarantine(ErrBurnedIn, "BurnedInAnnotation is YES and no pixel rule of the policy matches")
	}
	if v := f.top.str(tagModality); v != "" && containsFold(p.RiskyModalities, v) {
		return quarantine(ErrBurnedIn, "the policy marks the modality as risky and no pixel rule matches")
	}
	if v := f.top.str(tagSOPClassUID); v != "" && containsFold(p.RiskySOPClasses, v) {
		return quarantine(ErrBurnedIn, "the policy marks the SOP class as risky and no pixel rule matches")
	}
	return nil
}

func containsFold(list []string, v string) bool {
	for _, w := range list {
		if strings.EqualFold(strings.TrimSpace(w), v) {
			return true
		}
	}
	return false
}

// planPixels checks, before anything is written, that the pixel data a
// rule selected can be cleaned, and fixes how.
func (f *file) planPixels(h *header) error {
	pl := f.pix
	name := pl.rule.name()
	if h.tag != tagPixelData {
		return quarantine(ErrUnsupported, "pixel rule %s: float pixel data cannot be cleaned", name)
	}
	g, err := readGeometry(f.top, f.syn.order())
	if err != nil {
		return err
	}
	for i, r := range pl.rule.Regions {
		if r.X >= g.cols || r.Y >= g.rows {
			return quarantine(ErrBurnedIn, "pixel rule %s: region %d lies outside the image", name, i+1)
		}
	}
	pl.geom = g
	if h.length == undefinedLength {
		switch f.syn.uid {
		case tsRLE:
			pl.rle = true
			return nil
		case tsJPEGBase:
			if f.a.p.JPEGBaseline == JPEGBlankBlocks {
				return quarantine(ErrUnsupported, "pixel rule %s: lossless JPEG block blanking is not available", name)
			}
			return quarantine(ErrBurnedIn, "pixel rule %s applies to baseline JPEG pixel data and the policy quarantines it", name)
		}
		return quarantine(ErrBurnedIn, "pixel rule %s applies to compressed pixel data that cannot be cleaned losslessly", name)
	}
	switch f.syn.uid {
	case tsImplicitLE, tsExplicitLE, tsExplicitBE, tsDeflatedLE:
	default:
		return quarantine(ErrMalformed, "native pixel data in an encapsulated transfer syntax")
	}
	if strings.HasSuffix(g.photometric, "_422") || strings.HasSuffix(g.photometric, "_420") {
		return quarantine(ErrUnsupported, "pixel rule %s: subsampled native colour cannot be cleaned", name)
	}
	need := int64(g.frameBytes) * int64(g.frames)
	if extra := int64(h.length) - need; extra < 0 || extra > 1 {
		return quarantine(ErrMalformed, "pixel data length does not match rows, columns, samples, bits allocated and frames")
	}
	if f.syn.bigEndian && g.bytesPer == 1 && h.vr == "OW" {
		// 8-bit samples in OW big endian are swapped in pairs.
		if g.frameBytes%2 == 1 {
			return quarantine(ErrUnsupported, "pixel rule %s: odd-sized 8-bit frames in big endian OW", name)
		}
		g.swap8 = true
		pl.geom = g
	}
	return nil
}

// geometry is the layout of native pixel data.
type geometry struct {
	rows, cols, spp      int
	bitsAlloc, bitsStore int
	bytesPer             int
	signed, planar       bool
	frames, frameBytes   int
	photometric          string
	bigEndian            bool
	swap8                bool // 8-bit OW in big endian: bytes swapped in pairs
}

// readGeometry reads and checks the Image Pixel module.
func readGeometry(top *dataset, order binary.ByteOrder) (geometry, error) {
	g := geometry{bigEndian: order == binary.BigEndian, photometric: top.str(tagPhotometric)}
	us := func(t Tag, def int, required bool) (int, error) {
		e := top.find(t)
		if e == nil || len(e.value) == 0 {
			if required {
				return 0, quarantine(ErrUnsupported, "pixel cleaning needs %s", t)
			}
			return def, nil
		}
		if len(e.value) < 2 {
			return 0, quarantine(ErrMalformed, "bad value of %s", t)
		}
		return int(order.Uint16(e.value)), nil
	}
	var err error
	if g.rows, err = us(tagRows, 0, true); err != nil {
		return g, err
	}
	if g.cols, err = us(tagColumns, 0, true); err != nil {
		return g, err
	}
	if g.spp, err = us(tagSamplesPerPixel, 1, false); err != nil {
		return g, err
	}
	if g.bitsAlloc, err = us(tagBitsAllocated, 0, true); err != nil {
		return g, err
	}
	if g.bitsStore, err = us(tagBitsStored, g.bitsAlloc, false); err != nil {
		return g, err
	}
	pr, err := us(tagPixelRepresentation, 0, false)
	if err != nil {
		return g, err
	}
	pc, err := us(tagPlanarConfiguration, 0, false)
	if err != nil {
		return g, err
	}
	g.signed, g.planar = pr == 1, pc == 1 && g.spp > 1
	g.frames = 1
	if s := top.str(tagNumberOfFrames); s != "" {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return g, quarantine(ErrMalformed, "bad value of %s", tagNumberOfFrames)
		}
		g.frames = n
	}
	switch {
	case g.rows == 0 || g.cols == 0:
		return g, quarantine(ErrMalformed, "image with no rows or columns")
	case g.spp != 1 && g.spp != 3 && g.spp != 4:
		return g, quarantine(ErrUnsupported, "pixel cleaning of %d samples per pixel", g.spp)
	case g.bitsAlloc == 0 || g.bitsAlloc%8 != 0 || g.bitsAlloc > 64:
		return g, quarantine(ErrUnsupported, "pixel cleaning needs bits allocated a multiple of 8 (got %d)", g.bitsAlloc)
	case g.bitsStore == 0 || g.bitsStore > g.bitsAlloc:
		return g, quarantine(ErrMalformed, "bits stored out of range")
	}
	g.bytesPer = g.bitsAlloc / 8
	fb := int64(g.rows) * int64(g.cols) * int64(g.spp) * int64(g.bytesPer)
	if fb > maxFrameBytes {
		return g, quarantine(ErrUnsupported, "frames larger than %d bytes cannot be cleaned", maxFrameBytes)
	}
	g.frameBytes = int(fb)
	return g, nil
}

// blackValues returns, per sample, the value that displays black:
// the maximum for MONOCHROME1, the minimum for signed MONOCHROME2, zero
// luminance with neutral chroma for YBR, and zero otherwise.
func (g geometry) blackValues() []int64 {
	v := make([]int64, g.spp)
	bs := uint(g.bitsStore)
	switch {
	case g.photometric == "MONOCHROME1" && g.signed:
		v[0] = 1<<(bs-1) - 1
	case g.photometric == "MONOCHROME1":
		v[0] = 1<<bs - 1
	case g.spp == 1 && g.signed:
		v[0] = -(1 << (bs - 1))
	case strings.HasPrefix(g.photometric, "YBR") && g.spp == 3:
		v[1], v[2] = 1<<(bs-1), 1<<(bs-1)
		if strings.HasPrefix(g.photometric, "YBR_PARTIAL") {
			v[0] = 16 << (bs - 8)
		}
	}
	return v
}

// sampleBytes encodes each sample value in bytesPer bytes, most
// significant byte first when bigEndian.
func (g geometry) sampleBytes(bigEndian bool) [][]byte {
	vals := g.blackValues()
	out := make([][]byte, len(vals))
	for s, v := range vals {
		b := make([]byte, g.bytesPer)
		for i := range b {
			b[i] = byte(uint64(v) >> (8 * i))
		}
		if bigEndian {
			for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
				b[i], b[j] = b[j], b[i]
			}
		}
		out[s] = b
	}
	return out
}

// clip returns r limited to the image, and whether anything is left.
func (g geometry) clip(r Rect) (x0, y0, x1, y1 int, ok bool) {
	x0, y0 = r.X, r.Y
	x1, y1 = min(r.X+r.W, g.cols), min(r.Y+r.H, g.rows)
	return x0, y0, x1, y1, x0 < x1 && y0 < y1
}

// blankNative writes black into regions of one native frame.
func (g geometry) blankNative(frame []byte, regions []Rect) {
	fill := g.sampleBytes(g.bigEndian)
	bp := g.bytesPer
	for _, r := range regions {
		x0, y0, x1, y1, ok := g.clip(r)
		if !ok {
			continue
		}
		for y := y0; y < y1; y++ {
			for x := x0; x < x1; x++ {
				for s := 0; s < g.spp; s++ {
					var off int
					if g.planar {
						off = ((s*g.rows+y)*g.cols + x) * bp
					} else {
						off = ((y*g.cols+x)*g.spp + s) * bp
					}
					for i := 0; i < bp; i++ {
						j := off + i
						if g.swap8 {
							j ^= 1
						}
						frame[j] = fill[s][i]
					}
				}
			}
		}
	}
}

// writePixels writes the top-level pixel data: streamed unchanged, or
// cleaned one frame at a time when a pixel rule applies.
func (f *file) writePixels(p *parser, w *writer, h *header) error {
	switch {
	case f.pix == nil:
		return p.copyPixels(w, h)
	case f.pix.rle:
		return f.writeRLE(p, w, h)
	}
	return f.writeNative(p, w, h)
}

// writeNative blanks the selected frames of native pixel data.
func (f *file) writeNative(p *parser, w *writer, h *header) error {
	g, r := f.pix.geom, f.pix.rule
	w.header(h.tag, h.vr, h.length)
	buf := make([]byte, g.frameBytes)
	for i := 0; i < g.frames; i++ {
		if !r.frameSelected(i) {
			if err := p.copyN(w, int64(g.frameBytes)); err != nil {
				return err
			}
			continue
		}
		if err := p.read(buf); err != nil {
			return quarantine(ErrMalformed, "truncated pixel data")
		}
		g.blankNative(buf, r.Regions)
		w.write(buf)
		if w.err != nil {
			return fmt.Errorf("anonymize: write: %w", w.err)
		}
	}
	// The trailing pad byte, if any.
	return p.copyN(w, int64(h.length)-int64(g.frameBytes)*int64(g.frames))
}

// copyN copies n bytes of the input to w unchanged.
func (p *parser) copyN(w *writer, n int64) error {
	if n == 0 {
		return nil
	}
	m, err := io.CopyN(trackingWriter{w}, p.r, n)
	p.pos += m
	if err != nil {
		if w.err != nil {
			return fmt.Errorf("anonymize: write: %w", w.err)
		}
		return quarantine(ErrMalformed, "truncated pixel data")
	}
	return nil
}

// stampPixels records a pixel cleaning in the output header.
func (f *file) stampPixels(out *dataset) {
	if f.pix == nil {
		return
	}
	out.set(&element{tag: tagBurnedInAnnotation, vr: "CS", value: []byte("NO")})
	if f.pix.rle {
		// Offsets of re-encoded frames change: the basic offset table is
		// written empty and an extended one would be wrong.
		out.remove(tagExtendedOffsetTable)
		out.remove(tagExtendedOffsetLens)
	}
}

// methodCodes are the CID 7050 codes of this file: the profile's, plus
// Clean Pixel Data when a pixel rule applied.
func (f *file) methodCodes() []methodCode {
	if f.pix == nil {
		return f.a.codes
	}
	codes := append([]methodCode{}, f.a.codes[:1]...)
	codes = append(codes, methodCode{codeCleanPix, "Clean Pixel Data Option"})
	return append(codes, f.a.codes[1:]...)
}

// anyValue is anyValue that also reads binary integer attributes (Rows,
// Columns, Bits Allocated) as decimal strings.
func (f *file) anyValue(e *element, fn func(string) bool) bool {
	order := f.syn.order()
	var vals []string
	switch e.vr {
	case "US":
		for b := e.value; len(b) >= 2; b = b[2:] {
			vals = append(vals, strconv.Itoa(int(order.Uint16(b))))
		}
	case "SS":
		for b := e.value; len(b) >= 2; b = b[2:] {
			vals = append(vals, strconv.Itoa(int(int16(order.Uint16(b)))))
		}
	case "UL":
		for b := e.value; len(b) >= 4; b = b[4:] {
			vals = append(vals, strconv.FormatUint(uint64(order.Uint32(b)), 10))
		}
	case "SL":
		for b := e.value; len(b) >= 4; b = b[4:] {
			vals = append(vals, strconv.Itoa(int(int32(order.Uint32(b)))))
		}
	default:
		return anyValue(e, fn)
	}
	for _, v := range vals {
		if fn(v) {
			return true
		}
	}
	return false
}
