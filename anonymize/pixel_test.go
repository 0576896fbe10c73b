package anonymize

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"
)

const (
	scImageStorage = "1.2.840.10008.5.1.4.1.1.7"
	pixSOPInstance = "1.2.826.0.1.3680043.2.1125.8.1"
)

// pixCase is one pixel layout: an image is generated with "text" (the
// maximum stored value) drawn inside the rule's region, and after cleaning
// the region must hold the black value and every other byte be unchanged.
type pixCase struct {
	name        string
	ts          string
	vr          string
	photometric string
	rows, cols  int
	spp, ba, bs int
	signed      bool
	planar      int
	frames      int
	regions     []Rect
	onlyFrames  []int   // 1-based; nil: all
	black       []int64 // expected value per sample inside regions
}

func pixCases() []pixCase {
	r := []Rect{{X: 2, Y: 1, W: 5, H: 3}}
	return []pixCase{
		{name: "mono8-odd-explicit", ts: tsExplicitLE, vr: "OB", photometric: "MONOCHROME2", rows: 5, cols: 7, spp: 1, ba: 8, bs: 8, frames: 1, regions: r, black: []int64{0}},
		{name: "mono16-implicit-monochrome1", ts: tsImplicitLE, vr: "OW", photometric: "MONOCHROME1", rows: 8, cols: 9, spp: 1, ba: 16, bs: 12, frames: 1, regions: r, black: []int64{4095}},
		{name: "mono16-signed-be", ts: tsExplicitBE, vr: "OW", photometric: "MONOCHROME2", rows: 8, cols: 9, spp: 1, ba: 16, bs: 16, signed: true, frames: 1, regions: r, black: []int64{-32768}},
		{name: "mono8-ow-be", ts: tsExplicitBE, vr: "OW", photometric: "MONOCHROME2", rows: 6, cols: 9, spp: 1, ba: 8, bs: 8, frames: 2, regions: r, black: []int64{0}},
		{name: "mono16-deflated", ts: tsDeflatedLE, vr: "OW", photometric: "MONOCHROME2", rows: 8, cols: 9, spp: 1, ba: 16, bs: 16, frames: 1, regions: r, black: []int64{0}},
		{name: "mono32", ts: tsExplicitLE, vr: "OB", photometric: "MONOCHROME2", rows: 4, cols: 9, spp: 1, ba: 32, bs: 32, frames: 1, regions: r, black: []int64{0}},
		{name: "rgb-planar0", ts: tsExplicitLE, vr: "OB", photometric: "RGB", rows: 6, cols: 8, spp: 3, ba: 8, bs: 8, frames: 1, regions: r, black: []int64{0, 0, 0}},
		{name: "rgb-planar1", ts: tsExplicitLE, vr: "OB", photometric: "RGB", rows: 6, cols: 8, spp: 3, ba: 8, bs: 8, planar: 1, frames: 1, regions: r, black: []int64{0, 0, 0}},
		{name: "rgb16-planar1-be", ts: tsExplicitBE, vr: "OW", photometric: "RGB", rows: 6, cols: 8, spp: 3, ba: 16, bs: 16, planar: 1, frames: 1, regions: r, black: []int64{0, 0, 0}},
		{name: "ybr-full", ts: tsExplicitLE, vr: "OB", photometric: "YBR_FULL", rows: 6, cols: 8, spp: 3, ba: 8, bs: 8, frames: 1, regions: r, black: []int64{0, 128, 128}},
		{name: "multiframe-some", ts: tsExplicitLE, vr: "OW", photometric: "MONOCHROME2", rows: 6, cols: 8, spp: 1, ba: 16, bs: 10, frames: 4, regions: []Rect{{X: 0, Y: 0, W: 3, H: 2}, {X: 6, Y: 4, W: 10, H: 10}}, onlyFrames: []int{2, 4}, black: []int64{0}},
		{name: "rle-mono8", ts: tsRLE, vr: "OB", photometric: "MONOCHROME2", rows: 6, cols: 9, spp: 1, ba: 8, bs: 8, frames: 1, regions: r, black: []int64{0}},
		{name: "rle-rgb16-multiframe", ts: tsRLE, vr: "OB", photometric: "RGB", rows: 5, cols: 140, spp: 3, ba: 16, bs: 16, frames: 3, regions: []Rect{{X: 100, Y: 1, W: 40, H: 3}}, onlyFrames: []int{1, 3}, black: []int64{0, 0, 0}},
		{name: "rle-monochrome1-16", ts: tsRLE, vr: "OB", photometric: "MONOCHROME1", rows: 4, cols: 9, spp: 1, ba: 16, bs: 12, frames: 2, regions: r, black: []int64{4095}},
	}
}

// text is the maximum stored value: burned-in text.
func (c pixCase) text() int64 {
	if c.signed {
		return 1<<(c.bs-1) - 1
	}
	return 1<<c.bs - 1
}

func (c pixCase) inRect(x, y int) bool {
	for _, r := range c.regions {
		if x >= r.X && x < r.X+r.W && y >= r.Y && y < r.Y+r.H {
			return true
		}
	}
	return false
}

// selected reports whether 0-based frame fr is one the rule blanks.
func (c pixCase) selected(fr int) bool {
	found := c.onlyFrames == nil
	for _, n := range c.onlyFrames {
		found = found || n == fr+1
	}
	return found
}

// value is the sample before (cleaned false) or after cleaning. The
// "text" is drawn in every frame; only selected frames are cleaned.
func (c pixCase) value(fr, x, y, s int, cleaned bool) int64 {
	if cleaned && c.selected(fr) && c.inRect(x, y) {
		return c.black[s]
	}
	if c.inRect(x, y) && (x+y)%3 != 0 {
		return c.text()
	}
	return int64((fr*31+x*7+y*13+s*5)%200 + 1)
}

// sampleBytes encodes v in ba/8 bytes of the case's byte order.
func (c pixCase) sampleBytes(v int64, bigEndian bool) []byte {
	b := make([]byte, c.ba/8)
	for i := range b {
		b[i] = byte(uint64(v) >> (8 * i))
	}
	if bigEndian {
		for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
			b[i], b[j] = b[j], b[i]
		}
	}
	return b
}

// native returns the native pixel value (frames one after the other).
func (c pixCase) native(cleaned bool) []byte {
	be := c.ts == tsExplicitBE
	var out []byte
	for fr := 0; fr < c.frames; fr++ {
		if c.planar == 1 {
			for s := 0; s < c.spp; s++ {
				for y := 0; y < c.rows; y++ {
					for x := 0; x < c.cols; x++ {
						out = append(out, c.sampleBytes(c.value(fr, x, y, s, cleaned), be)...)
					}
				}
			}
			continue
		}
		for y := 0; y < c.rows; y++ {
			for x := 0; x < c.cols; x++ {
				for s := 0; s < c.spp; s++ {
					out = append(out, c.sampleBytes(c.value(fr, x, y, s, cleaned), be)...)
				}
			}
		}
	}
	if be && c.ba == 8 && c.vr == "OW" {
		for i := 0; i+1 < len(out); i += 2 {
			out[i], out[i+1] = out[i+1], out[i]
		}
	}
	return out
}

// segments returns the RLE segments of one frame (independent of the
// engine's codec).
func (c pixCase) segments(fr int, cleaned bool) [][]byte {
	bp := c.ba / 8
	segs := make([][]byte, c.spp*bp)
	for s := 0; s < c.spp; s++ {
		for y := 0; y < c.rows; y++ {
			for x := 0; x < c.cols; x++ {
				b := c.sampleBytes(c.value(fr, x, y, s, cleaned), true)
				for k := 0; k < bp; k++ {
					segs[s*bp+k] = append(segs[s*bp+k], b[k])
				}
			}
		}
	}
	return segs
}

// literalRLE encodes segments with literal runs only (a valid encoder
// that shares no code with the engine's).
func literalRLE(segs [][]byte, cols int) []byte {
	out := make([]byte, 64)
	binary.LittleEndian.PutUint32(out, uint32(len(segs)))
	for k, seg := range segs {
		binary.LittleEndian.PutUint32(out[4+4*k:], uint32(len(out)))
		for row := 0; row < len(seg); row += cols {
			line := seg[row : row+cols]
			for len(line) > 0 {
				n := min(len(line), 128)
				out = append(out, byte(n-1))
				out = append(out, line[:n]...)
				line = line[n:]
			}
		}
		if len(out)%2 == 1 {
			out = append(out, 0)
		}
	}
	return out
}

func (c pixCase) file(t *testing.T) ([]byte, syntax) {
	t.Helper()
	s := synthSyntax(t, c.ts)
	ds := &dataset{}
	for _, e := range []*element{
		synthStr(tagSOPClassUID, "UI", scImageStorage),
		synthStr(tagSOPInstanceUID, "UI", pixSOPInstance),
		synthStr(tagModality, "CS", "US"),
		synthStr(0x00080070, "LO", "ACME"),
		synthStr(tagPatientName, "PN", "PHI-NAME^ABCDEF"),
		synthStr(tagPatientID, "LO", "PHI-ID-123456"),
		synthUS(s, tagSamplesPerPixel, uint16(c.spp)),
		synthStr(tagPhotometric, "CS", c.photometric),
		synthStr(tagNumberOfFrames, "IS", fmt.Sprint(c.frames)),
		synthUS(s, tagRows, uint16(c.rows)),
		synthUS(s, tagColumns, uint16(c.cols)),
		synthUS(s, tagBitsAllocated, uint16(c.ba)),
		synthUS(s, tagBitsStored, uint16(c.bs)),
		synthUS(s, 0x00280102, uint16(c.bs-1)),
		synthUS(s, tagPixelRepresentation, map[bool]uint16{false: 0, true: 1}[c.signed]),
		synthStr(tagBurnedInAnnotation, "CS", "YES"),
	} {
		ds.set(e)
	}
	if c.spp > 1 {
		ds.set(synthUS(s, tagPlanarConfiguration, uint16(c.planar)))
	}
	if c.ts == tsRLE {
		pe := &element{tag: tagPixelData, vr: "OB", encapsulated: true, fragments: [][]byte{{}}}
		for fr := 0; fr < c.frames; fr++ {
			pe.fragments = append(pe.fragments, literalRLE(c.segments(fr, false), c.cols))
		}
		ds.set(pe)
	} else {
		ds.set(&element{tag: tagPixelData, vr: c.vr, value: c.native(false)})
	}
	return synthEncode(t, s, false, ds.elems...).data, s
}

func (c pixCase) rule() PixelRule {
	return PixelRule{
		Name: "test-rule",
		When: []Condition{
			{Tag: tagModality, Op: OpEquals, Value: "US"},
			{Tag: tagRows, Op: OpEquals, Value: fmt.Sprint(c.rows)},
			{Tag: tagColumns, Op: OpIn, Values: []string{"1", fmt.Sprint(c.cols)}},
		},
		Regions: c.regions,
		Frames:  c.onlyFrames,
	}
}

// splitFragments splits an encapsulated pixel data element (header
// included) into its items.
func splitFragments(t *testing.T, pix []byte) [][]byte {
	t.Helper()
	b := pix[12:]
	var out [][]byte
	for {
		if len(b) < 8 {
			t.Fatal("truncated fragments")
		}
		tag := NewTag(binary.LittleEndian.Uint16(b), binary.LittleEndian.Uint16(b[2:]))
		n := binary.LittleEndian.Uint32(b[4:])
		if tag == tagSequenceDelim {
			return out
		}
		out = append(out, b[8:8+n])
		b = b[8+n:]
	}
}

func TestPixelRulesBlankRegions(t *testing.T) {
	for _, c := range pixCases() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			in, s := c.file(t)
			a := synthAnonymizer(t, &Profile{PixelRules: []PixelRule{c.rule()}})
			out, rep, err := anonymizeBytes(t, a, in)
			if err != nil {
				t.Fatal(err)
			}
			if rep.PixelRule != "test-rule" || rep.Options[1] != codeCleanPix {
				t.Errorf("report: pixel rule %q, options %v", rep.PixelRule, rep.Options)
			}
			got := parseAll(t, out)
			checkCleanStamp(t, got.ds, true)
			if c.ts != tsRLE {
				want := c.native(true)
				if len(want)%2 == 1 {
					want = append(want, 0)
				}
				hdr := 12
				if !s.explicit {
					hdr = 8
				}
				if len(got.pix) != hdr+len(want) {
					t.Fatalf("pixel element is %d bytes, want %d", len(got.pix), hdr+len(want))
				}
				if i := firstByteDiff(got.pix[hdr:], want); i >= 0 {
					t.Fatalf("pixel byte %d differs", i)
				}
				return
			}
			inFrags := splitFragments(t, parseAll(t, in).pix)
			frags := splitFragments(t, got.pix)
			if len(frags) != c.frames+1 || len(frags[0]) != 0 {
				t.Fatalf("%d fragments (offset table %d bytes)", len(frags), len(frags[0]))
			}
			g, err := readGeometry(got.ds, s.order())
			if err != nil {
				t.Fatal(err)
			}
			for fr := 0; fr < c.frames; fr++ {
				segs, err := rleDecode(frags[fr+1], g)
				if err != nil {
					t.Fatalf("frame %d: %v", fr+1, err)
				}
				want := c.segments(fr, true)
				for k := range want {
					if !bytes.Equal(segs[k], want[k]) {
						t.Errorf("frame %d segment %d differs", fr+1, k)
					}
				}
				if !c.selected(fr) && !bytes.Equal(frags[fr+1], inFrags[fr+1]) {
					t.Errorf("frame %d is outside the rule but its fragment changed", fr+1)
				}
			}
		})
	}
}

func firstByteDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	if len(a) != len(b) {
		return min(len(a), len(b))
	}
	return -1
}

// checkCleanStamp checks BurnedInAnnotation and the Clean Pixel Data code.
func checkCleanStamp(t *testing.T, ds *dataset, cleaned bool) {
	t.Helper()
	hasCode := false
	if seq := ds.find(tagDeidentMethodCodeSeq); seq != nil {
		for _, it := range seq.items {
			hasCode = hasCode || it.str(tagCodeValue) == codeCleanPix
		}
	}
	if hasCode != cleaned {
		t.Errorf("Clean Pixel Data code present = %v, want %v", hasCode, cleaned)
	}
	if cleaned && ds.str(tagBurnedInAnnotation) != "NO" {
		t.Errorf("BurnedInAnnotation = %q, want NO", ds.str(tagBurnedInAnnotation))
	}
}

func TestPixelPackBitsRoundTrip(t *testing.T) {
	rows := [][]byte{{}, {1}, {1, 1}, {1, 2}, bytes.Repeat([]byte{7}, 300), synthPattern(1000)}
	mixed := append(append(synthPattern(130), bytes.Repeat([]byte{0}, 129)...), 5, 6, 6, 7)
	rows = append(rows, mixed)
	for i, r := range rows {
		enc := packBits(nil, r)
		dec, ok := unpackBits(enc, len(r))
		if !ok || !bytes.Equal(dec, r) {
			t.Errorf("row %d does not round-trip", i)
		}
	}
}

// TestPixelAdmission covers the decisions taken before anything is written.
func TestPixelAdmission(t *testing.T) {
	base := pixCases()[0]
	file := func(c pixCase, edit func(ds []*element) []*element) []byte {
		in, _ := c.file(t)
		if edit == nil {
			return in
		}
		s := synthSyntax(t, c.ts)
		ds := &dataset{}
		for _, e := range edit(parseAll(t, in).ds.elems) {
			ds.set(e)
		}
		ds.set(&element{tag: tagPixelData, vr: c.vr, value: c.native(false)})
		return synthEncode(t, s, false, ds.elems...).data
	}
	set := func(e *element) func([]*element) []*element {
		return func(elems []*element) []*element {
			ds := &dataset{elems: elems}
			ds.set(e)
			return ds.elems
		}
	}
	jpeg := base
	jpeg.ts = tsJPEGBase
	j2k := base
	j2k.ts = "1.2.840.10008.1.2.4.90"
	encapsulated := func(c pixCase) []byte {
		s := synthSyntax(t, c.ts)
		elems := append(parseAll(t, file(base, set(synthStr(tagBurnedInAnnotation, "CS", "YES")))).ds.elems, synthEncapsulatedPixels(1))
		return synthEncode(t, s, false, elems...).data
	}
	rule := base.rule()
	rule.When = rule.When[:1]
	other := rule
	other.When = []Condition{{Tag: tagModality, Op: OpEquals, Value: "MR"}}
	outside := rule
	outside.Regions = []Rect{{X: 50, Y: 0, W: 2, H: 2}}
	s := synthSyntax(t, base.ts)
	cases := []struct {
		name string
		p    Profile
		in   []byte
		want error // nil: anonymised
	}{
		{"burned-in-no-rule", Profile{PixelRules: []PixelRule{other}}, file(base, nil), ErrBurnedIn},
		{"burned-in-allowed", Profile{BurnedIn: BurnedInAllow}, file(base, nil), nil},
		{"risky-modality", Profile{BurnedIn: BurnedInAllow, RiskyModalities: []string{"us"}}, file(base, nil), ErrBurnedIn},
		{"risky-sop-class", Profile{RiskySOPClasses: []string{scImageStorage}}, file(base, set(synthStr(tagBurnedInAnnotation, "CS", "NO"))), ErrBurnedIn},
		{"not-risky", Profile{RiskyModalities: []string{"XC"}}, file(base, set(synthStr(tagBurnedInAnnotation, "CS", "NO"))), nil},
		{"jpeg-quarantine", Profile{PixelRules: []PixelRule{rule}}, encapsulated(jpeg), ErrBurnedIn},
		{"jpeg-blank-blocks", Profile{PixelRules: []PixelRule{rule}, JPEGBaseline: JPEGBlankBlocks}, encapsulated(jpeg), ErrUnsupported},
		{"jpeg2000", Profile{PixelRules: []PixelRule{rule}}, encapsulated(j2k), ErrBurnedIn},
		{"region-outside", Profile{PixelRules: []PixelRule{outside}}, file(base, nil), ErrBurnedIn},
		{"bits-allocated-1", Profile{PixelRules: []PixelRule{rule}}, file(base, set(synthUS(s, tagBitsAllocated, 1))), ErrUnsupported},
		{"length-mismatch", Profile{PixelRules: []PixelRule{rule}}, file(base, set(synthUS(s, tagRows, 6))), ErrMalformed},
		{"no-rows", Profile{PixelRules: []PixelRule{rule}}, file(base, func(e []*element) []*element {
			ds := &dataset{elems: e}
			ds.remove(tagColumns)
			return ds.elems
		}), ErrUnsupported},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, rep, err := anonymizeBytes(t, synthAnonymizer(t, &c.p), c.in)
			if c.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				got := parseAll(t, out)
				checkCleanStamp(t, got.ds, false)
				if rep.PixelRule != "" || !bytes.Contains(got.pix, base.native(false)) {
					t.Error("pixels changed without a rule")
				}
				return
			}
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			if bytes.Contains([]byte(err.Error()), []byte("PHI")) {
				t.Errorf("message has a value: %v", err)
			}
		})
	}
}

func TestPixelRuleChecked(t *testing.T) {
	for _, r := range []PixelRule{
		{Name: "none"},
		{Name: "neg", Regions: []Rect{{X: -1, Y: 0, W: 1, H: 1}}},
		{Name: "empty", Regions: []Rect{{X: 0, Y: 0, W: 0, H: 1}}},
		{Name: "frame0", Regions: []Rect{{W: 1, H: 1}}, Frames: []int{0}},
	} {
		if _, err := New(&Profile{Secret: synthSecret, PixelRules: []PixelRule{r}}); err == nil {
			t.Errorf("rule %s accepted", r.Name)
		}
	}
}

func TestPixelPreview(t *testing.T) {
	for _, c := range pixCases() {
		if c.ts == tsDeflatedLE {
			continue
		}
		in, _ := c.file(t)
		a := synthAnonymizer(t, &Profile{PixelRules: []PixelRule{c.rule()}})
		pv, err := a.Preview(context.Background(), bytes.NewReader(in))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if b := pv.Image.Bounds(); b.Dx() != c.cols || b.Dy() != c.rows || pv.Rule != "test-rule" || len(pv.Regions) != len(c.regions) {
			t.Errorf("%s: preview %v rule %q", c.name, b, pv.Rule)
		}
	}
}
