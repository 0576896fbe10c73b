package anonymize

import (
	"bufio"
	"bytes"
	"compress/flate"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"hash"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// patternReader generates synthPattern bytes [off, end) without holding them.
type patternReader struct{ off, end uint64 }

func (r *patternReader) Read(b []byte) (int, error) {
	if r.off >= r.end {
		return 0, io.EOF
	}
	if rem := r.end - r.off; uint64(len(b)) > rem {
		b = b[:rem]
	}
	n := 0
	for n < len(b) && (r.off+uint64(n))%8 != 0 {
		n += r.byteAt(b[n:], r.off+uint64(n))
	}
	for ; len(b)-n >= 8; n += 8 {
		binary.LittleEndian.PutUint64(b[n:], synthMix((r.off+uint64(n))/8))
	}
	for n < len(b) {
		n += r.byteAt(b[n:], r.off+uint64(n))
	}
	r.off += uint64(n)
	return n, nil
}

func (r *patternReader) byteAt(b []byte, pos uint64) int {
	b[0] = byte(synthMix(pos/8) >> (8 * (pos % 8)))
	return 1
}

// pixelHasher is an io.Writer that hashes the pixel data value of the DICOM
// stream written to it. It holds only the start of the stream, until it
// has parsed the header with the package's parser.
type pixelHasher struct {
	tb       testing.TB
	capture  int // bytes held before parsing the header
	prefix   []byte
	located  bool
	pixLen   int64 // bytes to hash; 0: the native pixel data length
	header   header
	h        hash.Hash
	hashed   int64
	total    int64
	parseErr error
}

func newPixelHasher(tb testing.TB, pixLen int64) *pixelHasher {
	return &pixelHasher{tb: tb, capture: 256 << 10, prefix: make([]byte, 0, 320<<10), pixLen: pixLen, h: sha256.New()}
}

func (ph *pixelHasher) Write(p []byte) (int, error) {
	ph.total += int64(len(p))
	if ph.located {
		ph.feed(p)
		return len(p), nil
	}
	ph.prefix = append(ph.prefix, p...)
	if len(ph.prefix) >= ph.capture {
		ph.locate()
	}
	return len(p), nil
}

func (ph *pixelHasher) locate() {
	ph.located = true
	metaLen, syn, err := synthMetaLen(ph.prefix)
	if err != nil {
		ph.parseErr = err
		return
	}
	br := bufio.NewReader(bytes.NewReader(ph.prefix[metaLen:]))
	p := newParser(br, syn)
	_, pix, err := p.readDataset(-1, 0, modeTop)
	if err != nil || pix == nil {
		ph.parseErr = errors.Join(errors.New("no pixel data in the output header"), err)
		return
	}
	ph.header = *pix
	if ph.pixLen == 0 {
		ph.pixLen = int64(pix.length)
	}
	rest := ph.prefix[int64(metaLen)+p.pos:]
	ph.prefix = nil
	ph.feed(rest)
}

func (ph *pixelHasher) feed(p []byte) {
	if rem := ph.pixLen - ph.hashed; int64(len(p)) > rem {
		p = p[:rem]
	}
	ph.h.Write(p)
	ph.hashed += int64(len(p))
}

// sum returns the hash of the pixel data value, or fails the test.
func (ph *pixelHasher) sum() []byte {
	ph.tb.Helper()
	if !ph.located {
		ph.locate()
	}
	if ph.parseErr != nil {
		ph.tb.Fatalf("output does not parse: %v", ph.parseErr)
	}
	if ph.hashed != ph.pixLen {
		ph.tb.Fatalf("output holds %d pixel bytes, want %d", ph.hashed, ph.pixLen)
	}
	return ph.h.Sum(nil)
}

func sha256Of(tb testing.TB, r io.Reader) []byte {
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		tb.Fatal(err)
	}
	return h.Sum(nil)
}

// Native pixel data is streamed: memory is bounded by the header.
func TestStreamNativePixels(t *testing.T) {
	const size = 256 << 20
	s := synthSyntax(t, tsExplicitLE)
	head := synthRaw(t, s, synthHeader(s), func(w *writer) { w.header(0x7FE00010, "OW", size) })
	want := sha256Of(t, &patternReader{end: size})

	a := synthAnonymizer(t, nil)
	in := io.MultiReader(bytes.NewReader(head), &patternReader{end: size})
	ph := newPixelHasher(t, 0)
	var rep *Report
	var err error
	alloc := allocDelta(func() { rep, err = a.Anonymize(context.Background(), in, ph) })
	if err != nil {
		t.Fatal(err)
	}
	if got := ph.sum(); !bytes.Equal(got, want) {
		t.Error("output pixel data differs from the input's")
	}
	if ph.header.length != size || ph.header.vr != "OW" {
		t.Errorf("output pixel data header %s %d, want OW %d", ph.header.vr, ph.header.length, size)
	}
	if alloc > 32<<20 {
		t.Errorf("anonymising %d MiB of pixel data allocated %d MiB", size>>20, alloc>>20)
	}
	if rep.PixelBytes != 12+size {
		t.Errorf("Report.PixelBytes = %d, want %d", rep.PixelBytes, 12+size)
	}
	t.Logf("allocated %d KiB for %d MiB of pixels", alloc>>10, size>>20)
}

// Encapsulated pixel data is streamed fragment by fragment.
func TestStreamEncapsulatedPixels(t *testing.T) {
	const frag = 8 << 20
	s := synthSyntax(t, tsJPEGBaseline)
	head := synthRaw(t, s, synthHeader(s), func(w *writer) { w.header(0x7FE00010, "OB", undefinedLength) })
	value := func() io.Reader {
		var buf bytes.Buffer
		w := newWriter(&buf, s)
		w.header(tagItem, "", 12)
		for i := range 3 {
			var off [4]byte
			binary.LittleEndian.PutUint32(off[:], uint32(i*(frag+8)))
			w.write(off[:])
		}
		w.flush()
		rs := []io.Reader{bytes.NewReader(buf.Bytes())}
		for i := range 3 {
			var ih bytes.Buffer
			iw := newWriter(&ih, s)
			iw.header(tagItem, "", frag)
			iw.flush()
			rs = append(rs, bytes.NewReader(ih.Bytes()), &patternReader{off: uint64(i) * frag, end: uint64(i+1) * frag})
		}
		var dl bytes.Buffer
		dw := newWriter(&dl, s)
		dw.header(tagSequenceDelim, "", 0)
		dw.flush()
		return io.MultiReader(append(rs, bytes.NewReader(dl.Bytes()))...)
	}
	valueLen := int64(8+12) + 3*(8+frag) + 8
	want := sha256Of(t, value())

	a := synthAnonymizer(t, nil)
	in := io.MultiReader(bytes.NewReader(head), value())
	ph := newPixelHasher(t, valueLen)
	var rep *Report
	var err error
	alloc := allocDelta(func() { rep, err = a.Anonymize(context.Background(), in, ph) })
	if err != nil {
		t.Fatal(err)
	}
	if got := ph.sum(); !bytes.Equal(got, want) {
		t.Error("output encapsulated pixel data differs from the input's")
	}
	if rep.PixelBytes != 12+valueLen {
		t.Errorf("Report.PixelBytes = %d, want %d", rep.PixelBytes, 12+valueLen)
	}
	if ph.header.length != undefinedLength {
		t.Errorf("output pixel data length %#x, want undefined", ph.header.length)
	}
	if alloc > 32<<20 {
		t.Errorf("anonymising %d MiB of fragments allocated %d MiB", 3*frag>>20, alloc>>20)
	}
}

// Report.PixelBytes is the size of the pixel data streamed through.
func TestReportPixelBytes(t *testing.T) {
	s := synthSyntax(t, tsExplicitLE)
	pix := synthNativePixels()
	data := synthEncode(t, s, false, append(synthHeader(s), pix)...).data
	rep, err := synthAnonymizer(t, nil).Anonymize(context.Background(), bytes.NewReader(data), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(12 + len(pix.value)); rep.PixelBytes != want {
		t.Errorf("Report.PixelBytes = %d, want %d (header and value)", rep.PixelBytes, want)
	}
}

var errTestDiskFull = errors.New("test: disk full")

// failingWriter fails every write after the first n bytes.
type failingWriter struct{ n int }

func (w *failingWriter) Write(p []byte) (int, error) {
	if len(p) <= w.n {
		w.n -= len(p)
		return len(p), nil
	}
	n := w.n
	w.n = 0
	return n, errTestDiskFull
}

// A write error is the caller's problem (disk full, client gone), never a
// reason to quarantine the input as malformed.
func TestWriteErrorIsNotQuarantine(t *testing.T) {
	const size = 4 << 20
	explicit := synthSyntax(t, tsExplicitLE)
	jpeg := synthSyntax(t, tsJPEGBaseline)
	deflated := synthSyntax(t, tsDeflatedLE)
	cases := map[string]func() io.Reader{
		"native": func() io.Reader {
			head := synthRaw(t, explicit, synthHeader(explicit), func(w *writer) { w.header(0x7FE00010, "OW", size) })
			return io.MultiReader(bytes.NewReader(head), &patternReader{end: size})
		},
		"encapsulated": func() io.Reader {
			head := synthRaw(t, jpeg, synthHeader(jpeg), func(w *writer) {
				w.header(0x7FE00010, "OB", undefinedLength)
				w.header(tagItem, "", 0)
				w.header(tagItem, "", size)
			})
			var dl bytes.Buffer
			dw := newWriter(&dl, jpeg)
			dw.header(tagSequenceDelim, "", 0)
			dw.flush()
			return io.MultiReader(bytes.NewReader(head), &patternReader{end: size}, bytes.NewReader(dl.Bytes()))
		},
		"deflated": func() io.Reader {
			return bytes.NewReader(synthEncode(t, deflated, false,
				append(synthHeader(deflated), &element{tag: 0x7FE00010, vr: "OW", value: synthPattern(size)})...).data)
		},
	}
	a := synthAnonymizer(t, nil)
	for name, input := range cases {
		for _, after := range []int{0, 100, 1 << 20} {
			_, err := a.Anonymize(context.Background(), input(), &failingWriter{n: after})
			if !errors.Is(err, errTestDiskFull) {
				t.Errorf("%s, write failing after %d bytes: got %v, want the write error", name, after, err)
			}
			var qe *QuarantineError
			if errors.As(err, &qe) {
				t.Errorf("%s, write failing after %d bytes: reported as a quarantine: %v", name, after, err)
			}
		}
	}
}

// requireTool returns the path of an external checker, or skips (fails
// under CI=true) when it is not installed.
func requireTool(t *testing.T, path string, probe ...string) string {
	t.Helper()
	p, err := exec.LookPath(path)
	if err == nil && len(probe) > 0 {
		err = exec.Command(p, probe...).Run()
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required under CI: %v", path, err)
		}
		t.Skipf("%s not available: %v", path, err)
	}
	return p
}

const pydicomCheck = `
import sys, pydicom
ds = pydicom.dcmread(sys.argv[1])
assert ds.file_meta.TransferSyntaxUID == sys.argv[2], ds.file_meta.TransferSyntaxUID
assert ds.PatientIdentityRemoved == "YES", ds.PatientIdentityRemoved
assert len(ds.PixelData) == int(sys.argv[3]), len(ds.PixelData)
for elem in ds.iterall():
    assert "PHI-" not in str(elem.value), elem.tag
print("ok")
`

// The output of every native transfer syntax parses with the package's
// parser, DCMTK's dcmdump and pydicom.
func TestOutputParsesEverywhere(t *testing.T) {
	a := synthAnonymizer(t, nil)
	for _, tc := range synthSyntaxes(t) {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			if _, err := a.Anonymize(context.Background(), bytes.NewReader(synthFile(t, tc.syn)), &out); err != nil {
				t.Fatal(err)
			}
			ds, syn := synthReparse(t, out.Bytes())
			if syn.uid != tc.syn.uid {
				t.Errorf("output transfer syntax %s, want %s", syn.uid, tc.syn.uid)
			}
			if got := ds.str(tagPatientIdentityRemoved); got != "YES" {
				t.Errorf("PatientIdentityRemoved = %q", got)
			}
			path := filepath.Join(t.TempDir(), "out.dcm")
			if err := os.WriteFile(path, out.Bytes(), 0o600); err != nil {
				t.Fatal(err)
			}
			t.Run("dcmdump", func(t *testing.T) {
				dcmdump := requireTool(t, "dcmdump", "--version")
				b, err := exec.Command(dcmdump, "-q", path).CombinedOutput()
				if err != nil {
					t.Fatalf("dcmdump: %v\n%s", err, b)
				}
				if !bytes.Contains(b, []byte("(0012,0062) CS [YES]")) {
					t.Errorf("dcmdump shows no PatientIdentityRemoved YES:\n%s", b)
				}
				if bytes.Contains(b, []byte(synthPHI)) {
					t.Errorf("dcmdump shows a planted value:\n%s", b)
				}
			})
			t.Run("pydicom", func(t *testing.T) {
				py := requireTool(t, "/usr/bin/python3", "-c", "import pydicom")
				b, err := exec.Command(py, "-c", pydicomCheck, path, tc.syn.uid, "512").CombinedOutput()
				if err != nil || strings.TrimSpace(string(b)) != "ok" {
					t.Fatalf("pydicom: %v\n%s", err, b)
				}
			})
		})
	}
}

// synthReparse parses a whole output with the package's parser, pixel data
// and trailing elements included, and returns its data set (pixel data
// excluded) and syntax.
func synthReparse(tb testing.TB, data []byte) (*dataset, syntax) {
	tb.Helper()
	ds, syn, err := reparse(data)
	if err != nil {
		tb.Fatalf("output does not re-parse: %v", err)
	}
	return ds, syn
}

func reparse(data []byte) (*dataset, syntax, error) {
	br := bufio.NewReader(bytes.NewReader(data))
	_, syn, err := readPreamble(br)
	if err != nil {
		return nil, syn, err
	}
	in := br
	if syn.deflated {
		fr := flate.NewReader(br)
		defer fr.Close()
		in = bufio.NewReader(fr)
	}
	p := newParser(in, syn)
	ds, pix, err := p.readDataset(-1, 0, modeTop)
	if err != nil {
		return nil, syn, err
	}
	if pix == nil {
		return ds, syn, nil
	}
	if err := p.copyPixels(newWriter(io.Discard, syn), pix); err != nil {
		return nil, syn, err
	}
	tail, _, err := p.readDataset(-1, 0, modeTail)
	if err != nil {
		return nil, syn, err
	}
	ds.elems = append(ds.elems, tail.elems...)
	return ds, syn, nil
}
