package anonymize

import (
	"bufio"
	"bytes"
	"compress/flate"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
)

// This file holds the hostile-input tests and the synth* helpers that build
// small, valid files with the package's own writer. stream_test.go,
// fuzz_test.go and bench_test.go use them too.

// synthSecret keys the anonymizers of these tests.
var synthSecret = []byte("synth-test-secret-0123456789abcd")

// synthPHI prefixes every identifying value planted in synthetic files: it
// must never appear in an error message (nor in an output).
const synthPHI = "PHI-"

// Synthetic UIDs (not PHI: they only look like a site's).
const (
	synthCTImageStorage = "1.2.840.10008.5.1.4.1.1.2"
	synthSOPInstance    = "1.2.826.0.1.3680043.2.1125.7.1.1"
	synthStudy          = "1.2.826.0.1.3680043.2.1125.7.2"
	synthSeries         = "1.2.826.0.1.3680043.2.1125.7.3"
	synthRefInstance    = "1.2.826.0.1.3680043.2.1125.7.1.0"
	tsJPEGBaseline      = "1.2.840.10008.1.2.4.50"
)

func synthSyntax(tb testing.TB, uid string) syntax {
	tb.Helper()
	s, err := syntaxOf(uid)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// synthSyntaxes are the four native transfer syntaxes, by name.
func synthSyntaxes(tb testing.TB) []struct {
	name string
	syn  syntax
} {
	return []struct {
		name string
		syn  syntax
	}{
		{"implicit-le", synthSyntax(tb, tsImplicitLE)},
		{"explicit-le", synthSyntax(tb, tsExplicitLE)},
		{"explicit-be", synthSyntax(tb, tsExplicitBE)},
		{"deflated", synthSyntax(tb, tsDeflatedLE)},
	}
}

func synthStr(t Tag, vr, v string) *element { return &element{tag: t, vr: vr, value: []byte(v)} }

func synthUS(s syntax, t Tag, vs ...uint16) *element {
	b := make([]byte, 2*len(vs))
	for i, v := range vs {
		s.order().PutUint16(b[2*i:], v)
	}
	return &element{tag: t, vr: "US", value: b}
}

func synthSeq(t Tag, items ...*dataset) *element { return &element{tag: t, vr: "SQ", items: items} }

func synthItem(elems ...*element) *dataset { return &dataset{elems: elems} }

// synthHeader is a small CT header with PHI planted at the top level, in a
// sequence item, in a private block and in free text. Elements are in tag
// order.
func synthHeader(s syntax) []*element {
	return []*element{
		synthStr(tagSpecificCharacterSet, "CS", "ISO_IR 100"),
		synthStr(0x00080008, "CS", `ORIGINAL\PRIMARY\AXIAL`),
		synthStr(tagSOPClassUID, "UI", synthCTImageStorage),
		synthStr(tagSOPInstanceUID, "UI", synthSOPInstance),
		synthStr(0x00080020, "DA", "20240131"),
		synthStr(0x00080030, "TM", "101500"),
		synthStr(0x00080050, "SH", "PHI-ACC-123"),
		synthStr(tagModality, "CS", "CT"),
		synthStr(0x00080080, "LO", "PHI-INST-ABCDEF"),
		synthStr(0x00080090, "PN", "PHI-REFPHYS^ABCDEF"),
		synthSeq(0x00081140, synthItem(
			synthStr(0x00081150, "UI", synthCTImageStorage),
			synthStr(0x00081155, "UI", synthRefInstance),
		)),
		synthStr(0x00090010, "LO", "ACME 1.0"),
		synthStr(0x00091001, "LO", "PHI-PRIV-ABCDEF"),
		synthStr(tagPatientName, "PN", "PHI-NAME^ABCDEF"),
		synthStr(tagPatientID, "LO", "PHI-ID-123456"),
		synthStr(0x00100030, "DA", "19700101"),
		synthStr(0x00100040, "CS", "O"),
		synthStr(0x00180050, "DS", "1.25"),
		synthStr(tagStudyInstanceUID, "UI", synthStudy),
		synthStr(tagSeriesInstanceUID, "UI", synthSeries),
		synthStr(0x00200013, "IS", "7"),
		synthStr(0x00204000, "LT", "PHI-NOTE "+strings.Repeat("scanned after contrast; ", 24)),
		synthUS(s, 0x00280002, 1),
		synthStr(0x00280004, "CS", "MONOCHROME2"),
		synthUS(s, 0x00280010, 16),
		synthUS(s, 0x00280011, 16),
		synthUS(s, 0x00280100, 16),
		synthUS(s, 0x00280101, 12),
		synthUS(s, 0x00280102, 11),
		synthUS(s, 0x00280103, 0),
		synthSeq(0x00400275, synthItem(
			synthStr(0x00401001, "SH", "PHI-RPID-1"),
			synthSeq(0x00400008, synthItem(
				synthStr(tagCodeValue, "SH", "CTHEAD"),
				synthStr(tagCodingSchemeDesignator, "SH", "99ACME"),
				synthStr(tagCodeMeaning, "LO", "PHI-CODE-ABCDEF"),
			)),
		)),
	}
}

// synthPattern returns n deterministic pixel bytes.
func synthPattern(n int) []byte {
	b := make([]byte, n)
	synthFill(b, 0)
	return b
}

// synthFill fills b with the pattern starting at offset off (a multiple of 8).
func synthFill(b []byte, off uint64) {
	var w [8]byte
	for i := 0; i < len(b); i += 8 {
		binary.LittleEndian.PutUint64(w[:], synthMix((off+uint64(i))/8))
		copy(b[i:], w[:])
	}
}

// synthMix is splitmix64's finaliser.
func synthMix(x uint64) uint64 {
	x += 0x9E3779B97F4A7C15
	x = (x ^ x>>30) * 0xBF58476D1CE4E5B9
	x = (x ^ x>>27) * 0x94D049BB133111EB
	return x ^ x>>31
}

// synthNativePixels is 16×16 16-bit native pixel data.
func synthNativePixels() *element {
	return &element{tag: 0x7FE00010, vr: "OW", value: synthPattern(16 * 16 * 2)}
}

// synthEncapsulatedPixels is encapsulated pixel data: an empty basic offset
// table and n fragments.
func synthEncapsulatedPixels(n int) *element {
	e := &element{tag: 0x7FE00010, vr: "OB", encapsulated: true, fragments: [][]byte{{}}}
	for i := range n {
		e.fragments = append(e.fragments, synthPattern(64+16*i))
	}
	return e
}

// synthEncoded is a file and the offsets at which it can be cut into a
// shorter but well-formed file (top-level element boundaries).
type synthEncoded struct {
	data       []byte
	boundaries map[int]bool
}

// synthEncode writes a Part 10 file (or, with noPreamble, a bare data set)
// holding elems in syntax s.
func synthEncode(tb testing.TB, s syntax, noPreamble bool, elems ...*element) synthEncoded {
	tb.Helper()
	var buf bytes.Buffer
	ds := &dataset{elems: elems}
	if !noPreamble {
		if err := writeMeta(&buf, nil, s, ds.str(tagSOPClassUID), ds.str(tagSOPInstanceUID)); err != nil {
			tb.Fatal(err)
		}
	}
	enc := synthEncoded{boundaries: map[int]bool{}}
	var dst io.Writer = &buf
	var fw *flate.Writer
	if s.deflated {
		fw, _ = flate.NewWriter(&buf, flate.DefaultCompression)
		dst = fw
	}
	w := newWriter(dst, s)
	for _, e := range elems {
		w.element(e)
		if err := w.flush(); err != nil {
			tb.Fatal(err)
		}
		if !s.deflated {
			enc.boundaries[buf.Len()] = true
		}
	}
	if fw != nil {
		if err := fw.Close(); err != nil {
			tb.Fatal(err)
		}
	}
	enc.data = buf.Bytes()
	return enc
}

// synthFile is the small valid file of the given syntax: header, one
// sequence, pixel data.
func synthFile(tb testing.TB, s syntax) []byte {
	tb.Helper()
	return synthEncode(tb, s, false, append(synthHeader(s), synthNativePixels())...).data
}

// synthRaw builds hostile bytes: the meta of s, then the given valid
// elements, then whatever raw writes.
func synthRaw(tb testing.TB, s syntax, elems []*element, raw func(w *writer)) []byte {
	tb.Helper()
	var buf bytes.Buffer
	if err := writeMeta(&buf, nil, s, synthCTImageStorage, synthSOPInstance); err != nil {
		tb.Fatal(err)
	}
	w := newWriter(&buf, s)
	for _, e := range elems {
		w.element(e)
	}
	if raw != nil {
		raw(w)
	}
	if err := w.flush(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// synthMinimal are the elements any admissible file needs, plus a name.
func synthMinimal() []*element {
	return []*element{
		synthStr(tagSOPClassUID, "UI", synthCTImageStorage),
		synthStr(tagSOPInstanceUID, "UI", synthSOPInstance),
		synthStr(tagPatientName, "PN", "PHI-NAME^ABCDEF"),
	}
}

func synthAnonymizer(tb testing.TB, p *Profile) *Anonymizer {
	tb.Helper()
	if p == nil {
		p = &Profile{}
	}
	if p.Secret == nil {
		p.Secret = synthSecret
	}
	a, err := New(p)
	if err != nil {
		tb.Fatal(err)
	}
	return a
}

// checkRefused asserts that data is refused as malformed or unsupported,
// with no planted value in the message, and returns the error.
func checkRefused(t *testing.T, a *Anonymizer, data []byte) error {
	t.Helper()
	_, err := a.Anonymize(context.Background(), bytes.NewReader(data), io.Discard)
	if err == nil {
		t.Fatal("hostile input accepted")
	}
	if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnsupported) {
		t.Fatalf("error %q wraps neither ErrMalformed nor ErrUnsupported", err)
	}
	if strings.Contains(err.Error(), synthPHI) {
		t.Fatalf("error message contains a planted value: %q", err)
	}
	return err
}

func TestTruncatedEverywhere(t *testing.T) {
	a := synthAnonymizer(t, nil)
	for _, tc := range synthSyntaxes(t) {
		t.Run(tc.name, func(t *testing.T) {
			enc := synthEncode(t, tc.syn, false, append(synthHeader(tc.syn), synthNativePixels())...)
			if len(enc.data) > 4096 || !tc.syn.deflated && len(enc.data) < 1500 {
				t.Fatalf("test file is %d bytes, want about 2 KB", len(enc.data))
			}
			for n := 0; n < len(enc.data); n++ {
				var out bytes.Buffer
				_, err := a.Anonymize(context.Background(), bytes.NewReader(enc.data[:n]), &out)
				if err == nil {
					if !enc.boundaries[n] {
						t.Fatalf("cut at %d of %d (inside an element): accepted", n, len(enc.data))
					}
					if bytes.Contains(out.Bytes(), []byte(synthPHI)) {
						t.Fatalf("cut at %d: output holds a planted value", n)
					}
					continue
				}
				if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnsupported) {
					t.Fatalf("cut at %d: error %q wraps no sentinel", n, err)
				}
				if strings.Contains(err.Error(), synthPHI) {
					t.Fatalf("cut at %d: error message contains a planted value: %q", n, err)
				}
			}
		})
	}
}

func TestHostileInput(t *testing.T) {
	explicit := synthSyntax(t, tsExplicitLE)
	implicit := synthSyntax(t, tsImplicitLE)
	nested := func(depth int) *element {
		e := synthStr(0x00100020, "LO", "PHI-DEEP")
		for range depth {
			e = synthSeq(0x00081140, synthItem(e))
		}
		return e
	}
	cases := []struct {
		name string
		data func(t *testing.T) []byte
	}{
		{"empty", func(*testing.T) []byte { return nil }},
		{"one byte", func(*testing.T) []byte { return []byte{0} }},
		{"preamble only", func(*testing.T) []byte { return append(make([]byte, 128), "DICM"...) }},
		{"unknown VR", func(t *testing.T) []byte {
			return synthRaw(t, explicit, synthMinimal(), func(w *writer) {
				w.header(0x00100020, "ZZ", 14)
				w.write([]byte("PHI-ID-123456 "))
			})
		}},
		{"lower-case VR", func(t *testing.T) []byte {
			return synthRaw(t, explicit, synthMinimal(), func(w *writer) {
				w.header(0x00100020, "lo", 14)
				w.write([]byte("PHI-ID-123456 "))
			})
		}},
		{"undefined length UT", func(t *testing.T) []byte {
			return synthRaw(t, explicit, synthMinimal(), func(w *writer) {
				w.header(0x00204000, "UT", undefinedLength)
				w.write([]byte("PHI-NOTE"))
			})
		}},
		{"undefined length OB", func(t *testing.T) []byte {
			return synthRaw(t, explicit, synthMinimal(), func(w *writer) {
				w.header(0x00091002, "OB", undefinedLength)
				w.header(tagItem, "", 8)
				w.write([]byte("PHI-BLOB"))
				w.header(tagSequenceDelim, "", 0)
			})
		}},
		{"undefined length implicit PN", func(t *testing.T) []byte {
			return synthRaw(t, implicit, synthMinimal()[:2], func(w *writer) {
				w.header(tagPatientName, "", undefinedLength)
				w.write([]byte("PHI-NAME"))
			})
		}},
		{"item longer than sequence", func(t *testing.T) []byte {
			return synthRaw(t, explicit, synthMinimal(), func(w *writer) {
				w.header(0x00400275, "SQ", 8+8+12)
				w.header(tagItem, "", 100)
				w.header(0x00401001, "SH", 12)
				w.write([]byte("PHI-RPID-123"))
			})
		}},
		{"element longer than item", func(t *testing.T) []byte {
			return synthRaw(t, explicit, synthMinimal(), func(w *writer) {
				w.header(0x00400275, "SQ", undefinedLength)
				w.header(tagItem, "", 8+4)
				w.header(0x00401001, "SH", 12)
				w.write([]byte("PHI-RPID-123"))
				w.header(tagSequenceDelim, "", 0)
			})
		}},
		{"sequence delimiter in defined-length sequence", func(t *testing.T) []byte {
			return synthRaw(t, explicit, synthMinimal(), func(w *writer) {
				w.header(0x00400275, "SQ", 16)
				w.header(tagSequenceDelim, "", 0)
				w.header(tagItemDelim, "", 0)
			})
		}},
		{"stray item delimiter at top level", func(t *testing.T) []byte {
			return synthRaw(t, explicit, synthMinimal(), func(w *writer) { w.header(tagItemDelim, "", 0) })
		}},
		{"nested 200 deep", func(t *testing.T) []byte {
			return synthRaw(t, explicit, append(synthMinimal(), nested(200)), nil)
		}},
		{"nested 200 deep implicit", func(t *testing.T) []byte {
			return synthRaw(t, implicit, append(synthMinimal(), nested(200)), nil)
		}},
		{"UN sequences nested 200 deep", func(t *testing.T) []byte {
			return synthRaw(t, explicit, synthMinimal(), func(w *writer) {
				for range 200 {
					w.header(0x00091010, "UN", undefinedLength)
					w.header(tagItem, "", undefinedLength)
				}
			})
		}},
		{"repeated tag", func(t *testing.T) []byte {
			return synthRaw(t, explicit, append(synthMinimal(), synthStr(tagPatientName, "PN", "PHI-NAME^TWO")), nil)
		}},
		{"repeated tag out of order", func(t *testing.T) []byte {
			return synthRaw(t, explicit, append(synthMinimal(),
				synthStr(tagPatientID, "LO", "PHI-ID-1"), synthStr(tagPatientName, "PN", "PHI-NAME^TWO")), nil)
		}},
		{"repeated tag in an item", func(t *testing.T) []byte {
			return synthRaw(t, explicit, append(synthMinimal(), synthSeq(0x00400275, synthItem(
				synthStr(0x00401001, "SH", "PHI-RPID-1"), synthStr(0x00401001, "SH", "PHI-RPID-2"),
			))), nil)
		}},
		{"unsupported transfer syntax", func(t *testing.T) []byte {
			return synthRaw(t, syntax{uid: "1.2.3.4.5", explicit: true}, synthMinimal(), nil)
		}},
		{"no transfer syntax", func(t *testing.T) []byte {
			return synthRaw(t, syntax{explicit: true}, synthMinimal(), nil)
		}},
		{"missing SOP Instance UID", func(t *testing.T) []byte {
			m := synthMinimal()
			return synthRaw(t, explicit, []*element{m[0], m[2]}, nil)
		}},
		{"missing SOP Class UID", func(t *testing.T) []byte {
			m := synthMinimal()
			var buf bytes.Buffer
			if err := writeMeta(&buf, nil, explicit, "", synthSOPInstance); err != nil {
				t.Fatal(err)
			}
			w := newWriter(&buf, explicit)
			w.element(m[1])
			w.element(m[2])
			w.flush()
			return buf.Bytes()
		}},
		{"meta element with undefined length", func(t *testing.T) []byte {
			b := append(make([]byte, 128), "DICM"...)
			var buf bytes.Buffer
			w := newWriter(&buf, explicit)
			w.header(tagMetaVersion, "OB", undefinedLength)
			w.flush()
			return append(b, buf.Bytes()...)
		}},
		{"corrupt deflate stream", func(t *testing.T) []byte {
			data := synthFile(t, synthSyntax(t, tsDeflatedLE))
			start, _, err := synthMetaLen(data)
			if err != nil {
				t.Fatal(err)
			}
			for i := start + 8; i < len(data); i += 3 {
				data[i] ^= 0xA5
			}
			return data
		}},
		{"deflate stream of stored garbage", func(t *testing.T) []byte {
			var buf bytes.Buffer
			if err := writeMeta(&buf, nil, synthSyntax(t, tsDeflatedLE), synthCTImageStorage, synthSOPInstance); err != nil {
				t.Fatal(err)
			}
			fw, _ := flate.NewWriter(&buf, flate.NoCompression)
			fw.Write([]byte("PHI-NAME^ABCDEF and other garbage that is no data set"))
			fw.Close()
			return buf.Bytes()
		}},
	}
	a := synthAnonymizer(t, nil)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checkRefused(t, a, tc.data(t))
		})
	}
}

// A transfer syntax UID is a value from the file: a garbled or hostile one
// must not reach the error message (which gets logged).
func TestUnsupportedTransferSyntaxNotInMessage(t *testing.T) {
	a := synthAnonymizer(t, nil)
	data := synthRaw(t, syntax{uid: "PHI-NAME^ABCDEF", explicit: true}, synthMinimal(), nil)
	err := checkRefused(t, a, data)
	if !errors.Is(err, ErrUnsupported) {
		t.Errorf("error %q: want ErrUnsupported", err)
	}
}

// synthMetaLen returns the length of the preamble and file meta of data
// (a whole file or its start) and the data set's syntax.
func synthMetaLen(data []byte) (int, syntax, error) {
	br := bytes.NewReader(data)
	r := bufio.NewReader(br)
	_, syn, err := readPreamble(r)
	return len(data) - br.Len() - r.Buffered(), syn, err
}

func TestGarbageWithoutPreamble(t *testing.T) {
	a := synthAnonymizer(t, nil)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 300 {
		data := make([]byte, 8+rng.IntN(4096))
		for j := range data {
			data[j] = byte(rng.Uint32())
		}
		switch i % 3 {
		case 1:
			// Looks like an explicit VR data set for its first element.
			copy(data, []byte{0x08, 0x00, 0x05, 0x00, 'C', 'S'})
		case 2:
			// Looks like a meta group without a preamble.
			copy(data, []byte{0x02, 0x00, 0x10, 0x00, 'U', 'I'})
		}
		for _, cut := range []int{len(data), len(data) / 2} {
			_, err := a.Anonymize(context.Background(), bytes.NewReader(data[:cut]), io.Discard)
			if err == nil {
				t.Fatalf("garbage %d accepted", i)
			}
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnsupported) {
				t.Fatalf("garbage %d: error %q wraps no sentinel", i, err)
			}
		}
	}
}

// allocDelta runs fn and returns the bytes it allocated.
func allocDelta(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// A huge declared length at the end of a small file fails at end of input,
// without allocating what it declares.
func TestHugeLengthFailsFast(t *testing.T) {
	const limit = 64 << 20
	explicit := synthSyntax(t, tsExplicitLE)
	implicit := synthSyntax(t, tsImplicitLE)
	cases := []struct {
		name string
		data []byte
	}{
		{"4 GB private OB", synthRaw(t, explicit, synthMinimal(), func(w *writer) {
			w.header(0x00091002, "OB", 0xFFFFFFF0)
			w.write([]byte("PHI-BLOB"))
		})},
		{"4 GB UT", synthRaw(t, explicit, synthMinimal(), func(w *writer) {
			w.header(0x00204000, "UT", 0xFFFFFFF0)
		})},
		{"4 GB implicit", synthRaw(t, implicit, synthMinimal(), func(w *writer) {
			w.header(0x00204000, "", 0xFFFFFFF0)
		})},
		{"4 GB pixel data", synthRaw(t, explicit, synthMinimal(), func(w *writer) {
			w.header(0x7FE00010, "OW", 0xFFFFFFF0)
			w.write(make([]byte, 100))
		})},
		{"4 GB fragment", synthRaw(t, explicit, synthMinimal(), func(w *writer) {
			w.header(0x7FE00010, "OB", undefinedLength)
			w.header(tagItem, "", 0)
			w.header(tagItem, "", 0xFFFFFFF0)
			w.write(make([]byte, 100))
		})},
		{"250 MB private OB", synthRaw(t, explicit, synthMinimal(), func(w *writer) {
			w.header(0x00091002, "OB", 250<<20)
			w.write(make([]byte, 100))
		})},
		{"250 MB fragment in an item", synthRaw(t, explicit, synthMinimal(), func(w *writer) {
			w.header(0x00880200, "SQ", undefinedLength)
			w.header(tagItem, "", undefinedLength)
			w.header(0x7FE00010, "OB", undefinedLength)
			w.header(tagItem, "", 250<<20)
			w.write(make([]byte, 100))
		})},
		{"250 MB item in a sequence", synthRaw(t, explicit, synthMinimal(), func(w *writer) {
			w.header(0x00400275, "SQ", 250<<20)
			w.header(tagItem, "", 250<<20-8)
		})},
		{"4 GB meta element", func() []byte {
			b := append(make([]byte, 128), "DICM"...)
			var buf bytes.Buffer
			w := newWriter(&buf, explicit)
			w.header(tagMetaVersion, "OB", 0xFFFFFFF0)
			w.write([]byte{0, 1})
			w.flush()
			return append(b, buf.Bytes()...)
		}()},
	}
	a := synthAnonymizer(t, nil)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if len(tc.data) > 4096 {
				t.Fatalf("test file is %d bytes", len(tc.data))
			}
			n := allocDelta(func() { checkRefused(t, a, tc.data) })
			if n > limit {
				t.Errorf("allocated %d MiB for a %d-byte file", n>>20, len(tc.data))
			}
		})
	}
}

// A deflated file inflates to far more than its size. Everything but the
// top-level pixel data is held in memory, so a small deflated upload must
// not be able to make the engine hold hundreds of MiB.
func TestDeflatedHeaderBomb(t *testing.T) {
	const (
		limit = 64 << 20
		size  = 64 << 20
	)
	s := synthSyntax(t, tsDeflatedLE)
	elems := append(synthMinimal(),
		synthStr(0x00090010, "LO", "ACME 1.0"),
		&element{tag: 0x00091001, vr: "OB", value: make([]byte, size)},
		&element{tag: 0x00091002, vr: "OB", value: make([]byte, size)},
		&element{tag: 0x00091003, vr: "OB", value: make([]byte, size)},
	)
	data := synthEncode(t, s, false, elems...).data
	elems = nil
	if len(data) > 1<<20 {
		t.Fatalf("bomb is %d bytes", len(data))
	}
	a := synthAnonymizer(t, nil)
	var err error
	n := allocDelta(func() {
		_, err = a.Anonymize(context.Background(), bytes.NewReader(data), io.Discard)
	})
	if err != nil && !errors.Is(err, ErrUnsupported) {
		t.Fatalf("error %q: want nil or ErrUnsupported", err)
	}
	if n > limit {
		t.Errorf("a %d KiB deflated file made the engine allocate %d MiB (err %v)", len(data)>>10, n>>20, err)
	}
}

// Elements after the pixel data belong to the same data set: a tag that
// repeats one of the header (or a second pixel data) is a repeated tag.
func TestRepeatedTagAfterPixelData(t *testing.T) {
	s := synthSyntax(t, tsExplicitLE)
	cases := []struct {
		name string
		tail *element
	}{
		{"patient name", synthStr(tagPatientName, "PN", "PHI-NAME^TAIL")},
		{"identity removed", synthStr(tagPatientIdentityRemoved, "CS", "NO")},
		{"second pixel data", &element{tag: 0x7FE00010, vr: "OW", value: make([]byte, 64)}},
	}
	a := synthAnonymizer(t, nil)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			data := synthEncode(t, s, false, append(synthHeader(s), synthNativePixels(), tc.tail)...).data
			var out bytes.Buffer
			_, err := a.Anonymize(context.Background(), bytes.NewReader(data), &out)
			if err == nil {
				t.Fatalf("file with a repeated %s after the pixel data accepted (output %d bytes)", tc.tail.tag, out.Len())
			}
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %q: want ErrMalformed", err)
			}
		})
	}
}

// Pixel data whose explicit VR says SQ is copied through raw at the top
// level, so the items inside it would never be anonymised.
func TestPixelDataAsSequenceNotPassedThrough(t *testing.T) {
	s := synthSyntax(t, tsExplicitLE)
	var inner bytes.Buffer
	iw := newWriter(&inner, s)
	iw.element(synthSeq(0x7FE00010, synthItem(synthStr(tagPatientName, "PN", "PHI-NAME^HIDDEN"))))
	iw.flush()
	// Re-encode with a defined length, as the reader streams pixel data.
	body := inner.Bytes()[12:]
	data := synthRaw(t, s, synthMinimal()[:2], func(w *writer) {
		w.header(0x7FE00010, "SQ", uint32(len(body)))
		w.write(body)
	})
	a := synthAnonymizer(t, nil)
	var out bytes.Buffer
	_, err := a.Anonymize(context.Background(), bytes.NewReader(data), &out)
	if err == nil && bytes.Contains(out.Bytes(), []byte(synthPHI)) {
		t.Fatal("a name inside pixel data encoded as SQ reached the output")
	}
	if err != nil && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnsupported) {
		t.Fatalf("error %q wraps no sentinel", err)
	}
}

// Encapsulated pixel data inside an item (an icon) is held in memory and
// re-encoded: an odd-length fragment must be written with a length that
// matches the bytes written.
func TestOddFragmentInItemReencoded(t *testing.T) {
	s := synthSyntax(t, tsJPEGBaseline)
	// Written by hand: the writer's own encoding of an odd fragment is the
	// bug under test.
	data := synthRaw(t, s, synthMinimal(), func(w *writer) {
		w.header(0x00880200, "SQ", undefinedLength)
		w.header(tagItem, "", undefinedLength)
		w.element(synthUS(s, 0x00280010, 1))
		w.header(0x7FE00010, "OB", undefinedLength)
		w.header(tagItem, "", 0)
		w.header(tagItem, "", 7)
		w.write([]byte("\xFF\xD8odd\xFF\xD9"[:7]))
		w.header(tagSequenceDelim, "", 0)
		w.header(tagItemDelim, "", 0)
		w.header(tagSequenceDelim, "", 0)
		w.element(synthNativePixels())
	})
	a := synthAnonymizer(t, &Profile{Rules: []Rule{{Select: Selector{Tag: 0x00880200}, Action: ActKeep}}})
	var out bytes.Buffer
	if _, err := a.Anonymize(context.Background(), bytes.NewReader(data), &out); err != nil {
		t.Fatal(err)
	}
	ds, _ := synthReparse(t, out.Bytes())
	seq := ds.find(0x00880200)
	if seq == nil || len(seq.items) != 1 || seq.items[0].find(0x7FE00010) == nil {
		t.Fatal("icon image lost")
	}
}
