package anonymize

import (
	"bufio"
	"bytes"
	"compress/flate"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"math/big"
	"strings"
	"testing"

	"dicomgate/internal/dicomtest"
)

var testSecret = []byte("dicomgate-test-secret-0123456789")

// expectedUID computes the DESIGN.md UID independently of the engine.
func expectedUID(secret []byte, uid string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(uid))
	var n big.Int
	n.SetBytes(m.Sum(nil)[:16])
	return "2.25." + n.String()
}

// parsed is a test view of a written file.
type parsed struct {
	meta *dataset
	ds   *dataset
	pix  []byte
	syn  syntax
}

// parseAll reads a whole file with the engine's codec, pixel data included.
func parseAll(t testing.TB, data []byte) parsed {
	t.Helper()
	br := bufio.NewReader(bytes.NewReader(data))
	meta, syn, err := readPreamble(br)
	if err != nil {
		t.Fatalf("re-parse: %v", err)
	}
	in := br
	if syn.deflated {
		in = bufio.NewReader(flate.NewReader(br))
	}
	p := newParser(in, syn)
	ds, pix, err := p.readDataset(-1, 0, modeTop)
	if err != nil {
		t.Fatalf("re-parse: %v", err)
	}
	out := parsed{meta: meta, ds: ds, syn: syn}
	if pix != nil {
		var buf bytes.Buffer
		w := &writer{w: bufio.NewWriter(&buf), order: syn.order(), explicit: syn.explicit}
		if err := p.copyPixels(w, pix); err != nil {
			t.Fatalf("re-parse pixels: %v", err)
		}
		w.flush()
		out.pix = buf.Bytes()
		tail, _, err := p.readDataset(-1, 0, modeTail)
		if err != nil {
			t.Fatalf("re-parse tail: %v", err)
		}
		ds.elems = append(ds.elems, tail.elems...)
	}
	return out
}

func anonymizeBytes(t testing.TB, a *Anonymizer, data []byte) ([]byte, *Report, error) {
	t.Helper()
	var out bytes.Buffer
	rep, err := a.Anonymize(context.Background(), bytes.NewReader(data), &out)
	return out.Bytes(), rep, err
}

func corpus(t *testing.T) ([]dicomtest.File, *dicomtest.Key) {
	t.Helper()
	files, key, err := dicomtest.New(42).Corpus(dicomtest.CorpusOptions{Patients: 3, Slices: 5})
	if err != nil {
		t.Fatal(err)
	}
	return files, key
}

// optionSets are the option combinations the corpus tests run: none, each
// option alone, and the two combinations the example policies use.
func optionSets() map[string]struct {
	o    Options
	kept dicomtest.Option
} {
	type set = struct {
		o    Options
		kept dicomtest.Option
	}
	return map[string]set{
		"basic":             {Options{}, 0},
		"safe-private":      {Options{RetainSafePrivate: true}, dicomtest.OptRetainSafePrivate},
		"uids":              {Options{RetainUIDs: true}, dicomtest.OptRetainUIDs},
		"device":            {Options{RetainDeviceIdentity: true}, dicomtest.OptRetainDeviceIdentity},
		"institution":       {Options{RetainInstitutionIdentity: true}, dicomtest.OptRetainInstitutionIdentity},
		"patient-chars":     {Options{RetainPatientCharacteristics: true}, dicomtest.OptRetainPatientCharacteristics},
		"full-dates":        {Options{RetainLongitudinalFullDates: true}, dicomtest.OptRetainLongitudinalFullDates},
		"modified-dates":    {Options{RetainLongitudinalModifiedDates: true}, dicomtest.OptRetainLongitudinalModifiedDates},
		"clean-descriptors": {Options{CleanDescriptors: true}, dicomtest.OptCleanDescriptors},
		"clean-structured":  {Options{CleanStructuredContent: true}, dicomtest.OptCleanStructuredContent},
		"clean-graphics":    {Options{CleanGraphics: true}, dicomtest.OptCleanGraphics},
		"trial":             {Options{RetainSafePrivate: true, RetainLongitudinalModifiedDates: true}, dicomtest.OptRetainSafePrivate | dicomtest.OptRetainLongitudinalModifiedDates},
		"research":          {Options{RetainUIDs: true, RetainLongitudinalFullDates: true, RetainPatientCharacteristics: true, RetainDeviceIdentity: true}, dicomtest.OptRetainUIDs | dicomtest.OptRetainLongitudinalFullDates | dicomtest.OptRetainPatientCharacteristics | dicomtest.OptRetainDeviceIdentity},
	}
}

// TestCorpusNoLeaks anonymises the generated corpus (every transfer syntax,
// nested and private sequences, SR, GSPS, PDF) under each option set and
// searches every output for every planted value the options do not allow.
func TestCorpusNoLeaks(t *testing.T) {
	files, key := corpus(t)
	for name, set := range optionSets() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			a, err := New(&Profile{ID: "t", Version: "1", Secret: testSecret, Options: set.o})
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range files {
				out, _, err := anonymizeBytes(t, a, f.Data)
				if err != nil {
					t.Fatalf("%s: %v", f.Name, err)
				}
				// A value that may legitimately survive at another path
				// (the generator reuses one date per patient, and the
				// device option keeps calibration dates) cannot be judged
				// by a byte search.
				allowed := map[string]bool{}
				for _, p := range key.Values {
					if !p.InProfile || p.Options&set.kept != 0 {
						allowed[p.Value] = true
					}
				}
				leaks := key.Search(out, func(p dicomtest.Planted) bool {
					return p.InProfile && p.Searchable && p.Options&set.kept == 0 && !allowed[p.Value]
				})
				for _, l := range leaks {
					t.Errorf("%s: leaked %s value planted at %s", f.Name, l.Class, l.Path)
				}
			}
		})
	}
}

// TestCorpusConsistency checks UIDs, references, file meta, flags and pixel
// data across the corpus with the basic profile.
func TestCorpusConsistency(t *testing.T) {
	files, key := corpus(t)
	a, err := New(&Profile{ID: "t", Version: "1", Secret: testSecret})
	if err != nil {
		t.Fatal(err)
	}
	newSOP := map[string]string{} // original SOP instance -> output
	outputs := map[string]parsed{}
	for i, f := range files {
		out, rep, err := anonymizeBytes(t, a, f.Data)
		if err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		in, o := parseAll(t, f.Data), parseAll(t, out)
		outputs[f.Name] = o
		info := key.Files[i]
		if info.Path != f.Name {
			t.Fatalf("key order: %s vs %s", info.Path, f.Name)
		}
		if o.syn.uid != in.syn.uid {
			t.Errorf("%s: transfer syntax changed %s -> %s", f.Name, in.syn.uid, o.syn.uid)
		}
		want := expectedUID(testSecret, info.SOPInstanceUID)
		if got := o.ds.str(tagSOPInstanceUID); got != want {
			t.Errorf("%s: SOPInstanceUID %s, want %s", f.Name, got, want)
		}
		if got := o.meta.str(tagMediaSOPInstance); got != want {
			t.Errorf("%s: MediaStorageSOPInstanceUID %s != SOPInstanceUID %s", f.Name, got, want)
		}
		if o.meta.find(tagSourceAETitle) != nil {
			t.Errorf("%s: SourceApplicationEntityTitle kept in file meta", f.Name)
		}
		if got := o.ds.str(tagStudyInstanceUID); got != expectedUID(testSecret, info.StudyInstanceUID) || rep.StudyInstanceUID != got {
			t.Errorf("%s: StudyInstanceUID %s not the keyed UID (report %s)", f.Name, got, rep.StudyInstanceUID)
		}
		if o.ds.str(tagPatientIdentityRemoved) != "YES" || o.ds.find(tagDeidentMethod) == nil || o.ds.find(tagDeidentMethodCodeSeq) == nil {
			t.Errorf("%s: de-identification flags missing", f.Name)
		}
		if !bytes.Equal(in.pix, o.pix) {
			t.Errorf("%s: pixel data changed (%d -> %d bytes)", f.Name, len(in.pix), len(o.pix))
		}
		if rep.PixelBytes != int64(len(o.pix)) || (len(in.pix) > 0) != (rep.PixelBytes > 0) {
			t.Errorf("%s: report pixel bytes %d, streamed %d", f.Name, rep.PixelBytes, len(o.pix))
		}
		for _, e := range o.ds.elems {
			if e.tag.IsPrivate() {
				t.Errorf("%s: private element %s kept", f.Name, e.tag)
			}
		}
		newSOP[info.SOPInstanceUID] = want
	}
	// Every reference to an instance of the corpus points at its new UID.
	checked := 0
	for name, o := range outputs {
		walk(o.ds, func(e *element) {
			if e.tag != 0x00081155 {
				return
			}
			v := e.str()
			if !strings.HasPrefix(v, "2.25.") {
				t.Errorf("%s: ReferencedSOPInstanceUID %q not replaced", name, v)
			}
			for _, n := range newSOP {
				if n == v {
					checked++
				}
			}
		})
	}
	if checked == 0 {
		t.Error("no reference between corpus files found: the corpus lost its cross references")
	}
}

// TestPseudonymsStable: the same secret gives the same output bytes; another
// secret gives other UIDs.
func TestPseudonymsStable(t *testing.T) {
	files, _ := corpus(t)
	a1, _ := New(&Profile{Secret: testSecret, Options: Options{RetainLongitudinalModifiedDates: true}})
	a2, _ := New(&Profile{Secret: testSecret, Options: Options{RetainLongitudinalModifiedDates: true}})
	a3, _ := New(&Profile{Secret: []byte("another-secret-another-secret-00"), Options: Options{RetainLongitudinalModifiedDates: true}})
	for _, f := range files[:4] {
		o1, _, err1 := anonymizeBytes(t, a1, f.Data)
		o2, _, err2 := anonymizeBytes(t, a2, f.Data)
		o3, _, err3 := anonymizeBytes(t, a3, f.Data)
		if err1 != nil || err2 != nil || err3 != nil {
			t.Fatal(err1, err2, err3)
		}
		if !bytes.Equal(o1, o2) {
			t.Errorf("%s: two runs with the same secret differ", f.Name)
		}
		if parseAll(t, o1).ds.str(tagSOPInstanceUID) == parseAll(t, o3).ds.str(tagSOPInstanceUID) {
			t.Errorf("%s: a different secret gave the same UID", f.Name)
		}
	}
}

// TestDateShiftPerPatient: under Modified Dates every date of a patient
// moves by the same number of days, and different patients (almost surely)
// by different ones.
func TestDateShiftPerPatient(t *testing.T) {
	files, key := corpus(t)
	a, _ := New(&Profile{Secret: testSecret, Options: Options{RetainLongitudinalModifiedDates: true}})
	shifts := map[int]map[int]bool{}
	for i, f := range files {
		out, _, err := anonymizeBytes(t, a, f.Data)
		if err != nil {
			t.Fatal(err)
		}
		in, o := parseAll(t, f.Data), parseAll(t, out)
		for _, tg := range []Tag{0x00080020, 0x00080021, 0x00080022, 0x00080023} {
			ie, oe := in.ds.find(tg), o.ds.find(tg)
			if ie == nil || len(ie.value) == 0 {
				continue
			}
			if oe == nil {
				t.Errorf("%s: %s removed under modified dates", f.Name, tg)
				continue
			}
			d := daysBetween(t, ie.str(), oe.str())
			if d >= 0 {
				t.Errorf("%s: %s not shifted into the past (%d days)", f.Name, tg, d)
			}
			p := key.Files[i].Patient
			if shifts[p] == nil {
				shifts[p] = map[int]bool{}
			}
			shifts[p][d] = true
		}
	}
	distinct := map[int]bool{}
	for p, s := range shifts {
		if len(s) != 1 {
			t.Errorf("patient %d: dates shifted by %v, want one shift", p, s)
		}
		for d := range s {
			distinct[d] = true
		}
	}
	if len(shifts) > 1 && len(distinct) < 2 {
		t.Errorf("all patients share one shift %v", distinct)
	}
}

func daysBetween(t *testing.T, a, b string) int {
	t.Helper()
	ta, err1 := parseDA(a)
	tb, err2 := parseDA(b)
	if err1 != nil || err2 != nil {
		t.Fatalf("bad dates %q %q", a, b)
	}
	return int(tb.Sub(ta).Hours() / 24)
}

func walk(ds *dataset, fn func(*element)) {
	for _, e := range ds.elems {
		fn(e)
		for _, it := range e.items {
			walk(it, fn)
		}
	}
}
