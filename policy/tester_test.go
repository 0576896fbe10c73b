package policy

import (
	"bytes"
	"context"
	"image/png"
	"testing"

	"dicomgate/internal/dicomtest"
)

// testSample is a small generated CT slice with planted identifiers.
func testSample(t testing.TB) []byte {
	t.Helper()
	data, err := dicomtest.New(7).CTSlice(dicomtest.SliceOptions{Rows: 32, Cols: 48})
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestTester(t *testing.T) {
	p := mustParse(t, y(`
id: t
version: 1
profile: basic
pixel_rules:
  - name: corner
    when: {Modality: CT}
    regions: [{x: 0, y: 0, w: 10, h: 5}]
`))
	res, err := Test(context.Background(), p, []byte(testSecret), bytes.NewReader(testSample(t)))
	if err != nil {
		t.Fatal(err)
	}
	if res.Err != nil || res.Report == nil {
		t.Fatalf("sample not anonymised: %v", res.Err)
	}
	want := map[string]string{"PatientName": "Z", "SOPInstanceUID": "U"}
	for _, r := range res.Rows {
		if a, ok := want[r.Path]; ok {
			if r.Action != a {
				t.Errorf("%s: action %q, want %q", r.Path, r.Action, a)
			}
			if r.Original == "" || r.Original == r.New {
				t.Errorf("%s: original %q new %q", r.Path, r.Original, r.New)
			}
			delete(want, r.Path)
		}
	}
	if len(want) > 0 {
		t.Errorf("no rows for %v", want)
	}
	if res.PixelRule != "corner" {
		t.Errorf("pixel rule %q", res.PixelRule)
	}
	img, err := png.Decode(bytes.NewReader(res.PNG))
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 48 || b.Dy() != 32 {
		t.Errorf("png %v", b)
	}
	if r, g, _, _ := img.At(0, 0).RGBA(); r != 0xffff || g != 0 {
		t.Error("region not outlined in red")
	}
}

func TestTesterNoPixelRule(t *testing.T) {
	p := mustParse(t, "id: t\nversion: 1\nprofile: basic\n")
	res, err := Test(context.Background(), p, []byte(testSecret), bytes.NewReader(testSample(t)))
	if err != nil {
		t.Fatal(err)
	}
	if res.PNG != nil || res.PixelRule != "" {
		t.Error("a preview without a pixel rule")
	}
	if _, err := Test(context.Background(), p, []byte("short"), bytes.NewReader(nil)); err == nil {
		t.Error("short secret accepted")
	}
	res, err = Test(context.Background(), p, []byte(testSecret), bytes.NewReader([]byte("not dicom")))
	if err != nil {
		t.Fatal(err)
	}
	if res.Err == nil {
		t.Error("garbage sample not reported")
	}
}
