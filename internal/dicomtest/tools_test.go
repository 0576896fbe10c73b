package dicomtest

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// needTool returns the path of an external validator, skipping the test
// when it is missing (failing instead when CI=true).
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not installed (required when CI=true)", name)
		}
		t.Skipf("%s not installed", name)
	}
	return p
}

// needPydicom returns a python3 that can import pydicom and numpy.
func needPydicom(t *testing.T) string {
	t.Helper()
	for _, py := range []string{"/usr/bin/python3", "python3"} {
		if p, err := exec.LookPath(py); err == nil && exec.Command(p, "-c", "import pydicom, numpy").Run() == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("python3 with pydicom and numpy not installed (required when CI=true)")
	}
	t.Skip("python3 with pydicom and numpy not installed")
	return ""
}

// writeTestCorpus writes a small corpus and returns its directory and key.
func writeTestCorpus(t *testing.T) (string, *Key) {
	t.Helper()
	dir := t.TempDir()
	key, err := WriteCorpus(dir, 20, CorpusOptions{Patients: 2, Slices: 5})
	if err != nil {
		t.Fatal(err)
	}
	return dir, key
}

func TestDcmdumpReadsCorpus(t *testing.T) {
	dcmdump := needTool(t, "dcmdump")
	dir, key := writeTestCorpus(t)
	for _, f := range key.Files {
		t.Run(f.Path, func(t *testing.T) {
			out, err := exec.Command(dcmdump, "-q", filepath.Join(dir, f.Path)).CombinedOutput()
			if err != nil {
				t.Fatalf("dcmdump: %v\n%s", err, out)
			}
			if !bytes.Contains(out, []byte(f.SOPInstanceUID)) {
				t.Error("dump does not show the SOP Instance UID")
			}
		})
	}
}

// pydicomScript reads each file, walks every element and decodes the pixel
// data (except JPEG), printing "path sum" or "path -".
const pydicomScript = `
import sys, pydicom
for p in sys.argv[1:]:
    ds = pydicom.dcmread(p)
    list(ds.iterall())
    ts = str(ds.file_meta.TransferSyntaxUID)
    if "PixelData" in ds and ts != "1.2.840.10008.1.2.4.50":
        a = ds.pixel_array
        assert a.shape == (ds.Rows, ds.Columns), (p, a.shape)
        print(p, int(a.astype("int64").sum()))
    else:
        print(p, "-")
`

// runPydicom runs pydicomScript and returns path → pixel sum ("-" if none).
func runPydicom(t *testing.T, paths []string) map[string]string {
	t.Helper()
	py := needPydicom(t)
	cmd := exec.Command(py, append([]string{"-c", pydicomScript}, paths...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("pydicom: %v\n%s", err, stderr.String())
	}
	res := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 2 {
			res[f[0]] = f[1]
		}
	}
	return res
}

func TestPydicomReadsCorpus(t *testing.T) {
	dir, key := writeTestCorpus(t)
	var paths []string
	for _, f := range key.Files {
		paths = append(paths, filepath.Join(dir, f.Path))
	}
	res := runPydicom(t, paths)
	for _, p := range paths {
		if _, ok := res[p]; !ok {
			t.Errorf("pydicom gave no result for %s", p)
		}
	}
}

func TestPixelDataDecodesIdenticallyInEverySyntax(t *testing.T) {
	const rows, cols, seed = 16, 24, 30
	var want int64
	px := phantom16(rows, cols, 0, seed)
	for i := 0; i < len(px); i += 2 {
		want += int64(binary.LittleEndian.Uint16(px[i:]))
	}
	dir := t.TempDir()
	var paths []string
	for _, ts := range AllTransferSyntaxes() {
		data, err := New(seed).CTSlice(SliceOptions{Rows: rows, Cols: cols, TransferSyntax: ts})
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, ts+".dcm")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	res := runPydicom(t, paths)
	for _, p := range paths {
		if got := res[p]; got != strconv.FormatInt(want, 10) {
			t.Errorf("%s: pixel sum %s, want %d", filepath.Base(p), got, want)
		}
	}
}

func TestDciodvfyCTSlices(t *testing.T) {
	dciodvfy := needTool(t, "dciodvfy")
	dir, key := writeTestCorpus(t)
	n := 0
	for _, f := range key.Files {
		// dciodvfy cannot read deflated data sets.
		if f.Modality != "CT" || f.TransferSyntax == DeflatedExplicitVRLittleEndian {
			continue
		}
		n++
		out, _ := exec.Command(dciodvfy, filepath.Join(dir, f.Path)).CombinedOutput()
		for _, line := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(line, "Error") {
				t.Errorf("%s: %s", f.Path, line)
			}
		}
	}
	if n == 0 {
		t.Fatal("no CT slice checked")
	}
}

func TestDcmdrleDecodesRLE(t *testing.T) {
	dcmdrle := needTool(t, "dcmdrle")
	dir, key := writeTestCorpus(t)
	for _, f := range key.Files {
		if f.TransferSyntax != RLELossless {
			continue
		}
		out, err := exec.Command(dcmdrle, filepath.Join(dir, f.Path), filepath.Join(t.TempDir(), "d.dcm")).CombinedOutput()
		if err != nil {
			t.Errorf("%s: dcmdrle: %v\n%s", f.Path, err, out)
		}
	}
}
