package dicomtest

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// smallCorpus is the corpus most tests share.
func smallCorpus(t *testing.T, seed uint64) ([]File, *Key) {
	t.Helper()
	files, key, err := New(seed).Corpus(CorpusOptions{Patients: 2, Slices: 5})
	if err != nil {
		t.Fatal(err)
	}
	return files, key
}

func TestCorpusDeterministic(t *testing.T) {
	a, ka := smallCorpus(t, 11)
	b, kb := smallCorpus(t, 11)
	c, _ := smallCorpus(t, 12)
	if len(a) != len(b) {
		t.Fatalf("file counts differ: %d vs %d", len(a), len(b))
	}
	for i := range a {
		if a[i].Name != b[i].Name || !bytes.Equal(a[i].Data, b[i].Data) {
			t.Fatalf("file %s differs between runs with the same seed", a[i].Name)
		}
	}
	ja, _ := json.Marshal(ka)
	jb, _ := json.Marshal(kb)
	if !bytes.Equal(ja, jb) {
		t.Fatal("answer keys differ between runs with the same seed")
	}
	if bytes.Equal(a[0].Data, c[0].Data) {
		t.Fatal("different seeds gave the same first file")
	}
}

func TestCorpusShape(t *testing.T) {
	files, key := smallCorpus(t, 1)
	if want := 2 * (1 + 5 + 7); len(files) != want || len(key.Files) != want {
		t.Fatalf("got %d files, %d infos, want %d", len(files), len(key.Files), want)
	}
	seenTS := map[string]bool{}
	classes := map[string]bool{}
	for i, f := range files {
		info := key.Files[i]
		if info.Path != f.Name || info.TransferSyntax != f.TransferSyntax {
			t.Errorf("file %d: info %+v does not match file %s", i, info, f.Name)
		}
		seenTS[f.TransferSyntax] = true
		classes[info.SOPClassUID] = true
		if string(f.Data[128:132]) != "DICM" {
			t.Errorf("%s: no DICM prefix", f.Name)
		}
		end, ts, ok := metaInfo(f.Data)
		if !ok || ts != f.TransferSyntax || end >= len(f.Data) {
			t.Errorf("%s: meta parse ok=%v ts=%q", f.Name, ok, ts)
		}
	}
	for _, ts := range append(AllTransferSyntaxes(), JPEGBaseline8Bit) {
		if !seenTS[ts] {
			t.Errorf("no file with transfer syntax %s", ts)
		}
	}
	for _, c := range []string{CTImageStorage, MRImageStorage, USImageStorage, SecondaryCaptureStorage,
		GrayscaleSoftcopyPSStorage, ComprehensiveSRStorage, EncapsulatedPDFStorage} {
		if !classes[c] {
			t.Errorf("no object of SOP class %s", c)
		}
	}
}

func TestEveryPlantedValueOccurs(t *testing.T) {
	files, key := smallCorpus(t, 2)
	for _, f := range files {
		planted := key.ByFile(f.Name)
		if len(planted) < 40 {
			t.Errorf("%s: only %d planted values", f.Name, len(planted))
		}
		hay := asciiLower(searchable(f.Data))
		for _, p := range planted {
			if !contains(hay, p.Value) {
				t.Errorf("%s: planted %q at %s not in the file", f.Name, p.Value, p.Path)
			}
		}
	}
}

func TestDeflatedNeedsInflating(t *testing.T) {
	files, key := smallCorpus(t, 3)
	n := 0
	for _, f := range files {
		if f.TransferSyntax != DeflatedExplicitVRLittleEndian {
			continue
		}
		n++
		name := ""
		for _, p := range key.ByFile(f.Name) {
			if p.Path == "PatientName" {
				name = p.Value
			}
		}
		if bytes.Contains(f.Data, []byte(name)) {
			t.Errorf("%s: patient name readable without inflating", f.Name)
		}
		if !pathLeaked(FindLeaks(f.Data, key), "PatientName") {
			t.Errorf("%s: FindLeaks did not find the patient name", f.Name)
		}
	}
	if n == 0 {
		t.Fatal("no deflated file in the corpus")
	}
}

func pathLeaked(ps []Planted, path string) bool {
	for _, p := range ps {
		if p.Path == path {
			return true
		}
	}
	return false
}

func TestFindLeaks(t *testing.T) {
	files, key := smallCorpus(t, 4)
	var name, token string
	for _, p := range key.ByFile(files[0].Name) {
		switch p.Path {
		case "PatientName":
			name = p.Value
		case "StudyDescription":
			token = p.Value
		}
	}
	tests := []struct {
		name     string
		data     []byte
		wantPath string // "" means no leak
	}{
		{"original file", files[0].Data, "PatientName"},
		{"nothing planted", []byte("ANONYMOUS^PATIENT 1.2.3.4 20000101"), ""},
		{"token in lower case", []byte("xx" + strings.ToLower(token) + "yy"), "StudyDescription"},
		{"name with spaces", []byte(strings.ReplaceAll(name, "^", " ")), "PatientName"},
		{"not searchable: sex only", []byte("\x00M\x00F\x00"), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := FindLeaks(tc.data, key)
			if tc.wantPath == "" {
				if len(got) != 0 {
					t.Fatalf("leaks %v, want none", got[0])
				}
				return
			}
			if !pathLeaked(got, tc.wantPath) {
				t.Fatalf("no leak at %s among %d", tc.wantPath, len(got))
			}
			for _, p := range got {
				if !p.InProfile || !p.Searchable {
					t.Errorf("FindLeaks returned %+v, not a must-go value", p)
				}
			}
		})
	}
}

func TestKeyCoverage(t *testing.T) {
	_, key := smallCorpus(t, 5)
	paths := map[string]Planted{}
	for _, p := range key.Values {
		paths[p.Path] = p
		if !p.InProfile {
			t.Errorf("planted %q at %s is not covered by the Basic Profile", p.Value, p.Path)
		}
	}
	want := []string{
		"PatientName", "PatientID", "PatientBirthDate", "PatientAddress", "PatientTelephoneNumbers",
		"OtherPatientIDsSequence[1].PatientID", "IssuerOfPatientID", "AccessionNumber", "StudyID",
		"ReferringPhysicianIdentificationSequence[0].PersonIdentificationCodeSequence[0].CodeMeaning",
		"PerformingPhysicianName", "NameOfPhysiciansReadingStudy", "OperatorsName",
		"InstitutionName", "InstitutionAddress", "InstitutionalDepartmentName", "StationName",
		"DeviceSerialNumber", "DeviceUID", "IrradiationEventUID", "FrameOfReferenceUID",
		"StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "ReferencedImageSequence[0].ReferencedSOPInstanceUID",
		"RequestAttributesSequence[0].AccessionNumber",
		"RequestAttributesSequence[0].ReferencedStudySequence[0].ReferencedSOPInstanceUID",
		"RequestAttributesSequence[0].(0011,1001)",
		"(0043,1027)", "(0043,1062)", "(0019,100C)", "(0019,1009)", "(0009,1001)", "(0009,1004)",
		"(0009,1002)[0].(0009,1003)[1].(0009,1001)",
		"OverlayData", "OverlayComments", "CurveDescription", "DataSetTrailingPadding",
		"SourceApplicationEntityTitle", "MediaStorageSOPInstanceUID",
		"ContentSequence[1].ContentSequence[1].ContentSequence[3].ContentSequence[0].PersonName",
		"ContentSequence[1].ContentSequence[1].ContentSequence[1].Date",
		"ContentSequence[1].ContentSequence[1].ContentSequence[2].UID",
		"GraphicAnnotationSequence[0].TextObjectSequence[0].UnformattedTextValue",
		"EncapsulatedDocument", "AcquisitionDateTime", "ContentDate", "ContentTime", "SeriesDate",
	}
	for _, w := range want {
		if _, ok := paths[w]; !ok {
			t.Errorf("nothing planted at %s", w)
		}
	}
	if p := paths["(0043,1027)"]; p.Options&OptRetainSafePrivate == 0 {
		t.Error("safe private (0043,1027) not marked RetainSafePrivate")
	}
	if p := paths["(0043,1062)"]; p.Options&OptRetainSafePrivate != 0 {
		t.Error("unsafe private (0043,1062) marked RetainSafePrivate")
	}
	covered := map[uint32]bool{}
	for _, p := range key.Values {
		covered[p.Tags[0]] = true
	}
	n := 0
	for _, a := range profileTable() {
		if covered[a.tag] {
			n++
		}
	}
	if n < 500 {
		t.Errorf("only %d of %d Table E.1-1 attributes planted at top level", n, len(profileTable()))
	}
}

func TestUTF8Name(t *testing.T) {
	files, key := smallCorpus(t, 6)
	for _, f := range files {
		if !strings.HasPrefix(f.Name, "p02/") {
			continue
		}
		for _, p := range key.ByFile(f.Name) {
			if p.Path == "PatientName" && p.Value == strings.ToValidUTF8(p.Value, "") && !isASCII(p.Value) {
				if !bytes.Contains(searchable(f.Data), []byte("ISO_IR 192")) {
					t.Fatalf("%s: UTF-8 name without ISO_IR 192", f.Name)
				}
				return
			}
		}
	}
	t.Fatal("no UTF-8 patient name in patient 2")
}

func isASCII(s string) bool {
	for i := range len(s) {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func TestSequenceLengthsMixed(t *testing.T) {
	files, _ := smallCorpus(t, 7)
	undefined := []byte{'S', 'Q', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF}
	for _, f := range files {
		if f.TransferSyntax != ExplicitVRLittleEndian {
			continue
		}
		u := bytes.Count(f.Data, undefined)
		all := bytes.Count(f.Data, []byte{'S', 'Q', 0, 0})
		if u == 0 || u == all {
			t.Errorf("%s: %d of %d sequences with undefined length, want a mix", f.Name, u, all)
		}
	}
}

func TestBigEndianPixelData(t *testing.T) {
	g := New(8)
	le, err := g.CTSlice(SliceOptions{Rows: 16, Cols: 16})
	if err != nil {
		t.Fatal(err)
	}
	g = New(8)
	be, err := g.CTSlice(SliceOptions{Rows: 16, Cols: 16, TransferSyntax: ExplicitVRBigEndian})
	if err != nil {
		t.Fatal(err)
	}
	pixLE := pixelBytes(t, le, []byte{0xE0, 0x7F, 0x10, 0x00, 'O', 'W', 0, 0}, binary.LittleEndian)
	pixBE := pixelBytes(t, be, []byte{0x7F, 0xE0, 0x00, 0x10, 'O', 'W', 0, 0}, binary.BigEndian)
	if len(pixLE) != 512 || len(pixBE) != 512 {
		t.Fatalf("pixel lengths %d, %d, want 512", len(pixLE), len(pixBE))
	}
	for i := 0; i < len(pixLE); i += 2 {
		if binary.LittleEndian.Uint16(pixLE[i:]) != binary.BigEndian.Uint16(pixBE[i:]) {
			t.Fatalf("sample %d: LE %x BE %x", i/2, pixLE[i:i+2], pixBE[i:i+2])
		}
	}
}

// pixelBytes returns the value of the last PixelData element in data.
func pixelBytes(t *testing.T, data, header []byte, order binary.ByteOrder) []byte {
	t.Helper()
	i := bytes.LastIndex(data, header)
	if i < 0 {
		t.Fatal("no PixelData header")
	}
	n := int(order.Uint32(data[i+8:]))
	return data[i+12 : i+12+n]
}

func TestCTSliceSize(t *testing.T) {
	g := New(9)
	const n = 4
	for range n {
		b, err := g.CTSlice(SliceOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(b) < 512*512*2 {
			t.Fatalf("slice of %d bytes is too small for 512x512x16", len(b))
		}
	}
}

func TestWriteCorpusAndReadKey(t *testing.T) {
	dir := t.TempDir()
	key, err := WriteCorpus(dir, 10, CorpusOptions{Slices: 2, NoExtras: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(key.Files) != 4 {
		t.Fatalf("got %d files, want localizer + 2 slices + SC", len(key.Files))
	}
	back, err := ReadKey(filepath.Join(dir, KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	back.index, key.index = nil, nil
	if !reflect.DeepEqual(back, key) {
		t.Fatal("answer key does not round-trip through JSON")
	}
}

func TestCorpusRejectsUnknownSyntax(t *testing.T) {
	if _, _, err := New(1).Corpus(CorpusOptions{TransferSyntaxes: []string{"1.2.3"}}); err == nil {
		t.Fatal("want error for an unknown transfer syntax")
	}
}

func BenchmarkCTSlice512(b *testing.B) {
	g := New(1)
	for b.Loop() {
		if _, err := g.CTSlice(SliceOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
