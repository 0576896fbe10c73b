package anonymize

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
)

// buildFile encodes a data set as a Part 10 file in syntax s.
func buildFile(t testing.TB, s syntax, elems ...*element) []byte {
	t.Helper()
	ds := &dataset{}
	for _, e := range elems {
		ds.set(e)
	}
	var buf bytes.Buffer
	if err := writeMeta(&buf, nil, s, ds.str(tagSOPClassUID), ds.str(tagSOPInstanceUID)); err != nil {
		t.Fatal(err)
	}
	w := newWriter(&buf, s)
	w.dataset(ds)
	if err := w.flush(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func str(t Tag, vr, v string) *element { return &element{tag: t, vr: vr, value: []byte(v)} }

const (
	plantedUID   = "1.2.826.0.1.3680043.2.1125.99.1"
	plantedInner = "1.2.826.0.1.3680043.2.1125.99.2"
)

// planted returns an element of tag t with a value valid for vr that can be
// recognised in the output.
func planted(t Tag, vr string) *element {
	switch vr {
	case "PN":
		return str(t, vr, "PLANTED^NAME")
	case "LO", "LT", "ST", "UT", "UC":
		return str(t, vr, "PLANTED-VALUE")
	case "SH":
		return str(t, vr, "PLANTED-SH")
	case "CS":
		return str(t, vr, "PLANTEDCS")
	case "AE":
		return str(t, vr, "PLANTEDAE")
	case "DA":
		return str(t, vr, "20200315")
	case "DT":
		return str(t, vr, "20200315101010")
	case "TM":
		return str(t, vr, "101010")
	case "AS":
		return str(t, vr, "045Y")
	case "DS":
		return str(t, vr, "12.5")
	case "IS":
		return str(t, vr, "42")
	case "UI":
		return str(t, vr, plantedUID)
	case "UR":
		return str(t, vr, "http://planted.example/x")
	case "SQ":
		return &element{tag: t, vr: "SQ", items: []*dataset{{elems: []*element{
			str(0x00081155, "UI", plantedInner),
			str(0x00100010, "PN", "PLANTED^INNER"),
		}}}}
	case "US", "SS":
		return &element{tag: t, vr: vr, value: []byte{7, 0}}
	case "UL", "SL", "FL", "AT":
		return &element{tag: t, vr: vr, value: []byte{7, 0, 0, 0}}
	case "FD", "SV", "UV":
		return &element{tag: t, vr: vr, value: []byte{7, 0, 0, 0, 0, 0, 0, 0}}
	}
	return &element{tag: t, vr: vr, value: []byte("PLANTEDBYTES")}
}

// optionColumns maps each option to the table column it selects.
func optionColumns() map[string]func(*Options) {
	return map[string]func(*Options){
		"none":                   func(*Options) {},
		"safePrivate":            func(o *Options) { o.RetainSafePrivate = true },
		"uids":                   func(o *Options) { o.RetainUIDs = true },
		"device":                 func(o *Options) { o.RetainDeviceIdentity = true },
		"institution":            func(o *Options) { o.RetainInstitutionIdentity = true },
		"patient":                func(o *Options) { o.RetainPatientCharacteristics = true },
		"fullDates":              func(o *Options) { o.RetainLongitudinalFullDates = true },
		"modifiedDates":          func(o *Options) { o.RetainLongitudinalModifiedDates = true },
		"cleanDescriptors":       func(o *Options) { o.CleanDescriptors = true },
		"cleanStructuredContent": func(o *Options) { o.CleanStructuredContent = true },
		"cleanGraphics":          func(o *Options) { o.CleanGraphics = true },
	}
}

var dateRE = regexp.MustCompile(`^(19|20)[0-9]{6}$`)

// TestTableE11 runs every attribute of Table E.1-1 under every option
// column and checks the outcome against the action the table names:
// removed (X), empty (Z), dummy (D), keyed UID (U), kept (K), cleaned (C).
func TestTableE11(t *testing.T) {
	tags := tableTags()
	if len(tags)+4 != tableRows {
		t.Fatalf("table has %d public tags + 4 masks, generated from %d rows", len(tags), tableRows)
	}
	syn, _ := syntaxOf(tsExplicitLE)
	for optName, set := range optionColumns() {
		t.Run(optName, func(t *testing.T) {
			t.Parallel()
			var o Options
			set(&o)
			a, err := New(&Profile{Secret: testSecret, Options: o})
			if err != nil {
				t.Fatal(err)
			}
			for _, tag := range tags {
				checkAttribute(t, a, syn, o, tag)
			}
		})
	}
}

func checkAttribute(t *testing.T, a *Anonymizer, syn syntax, o Options, tag Tag) {
	vr := dictVR(tag)
	if vr == "" || tag.Group() <= 0x0002 {
		return // command and meta elements never reach a data set's output
	}
	entry, _ := lookupTable(tag)
	want := entry.action(o)
	base := []*element{
		str(tagSOPClassUID, "UI", "1.2.840.10008.5.1.4.1.1.7"),
		str(tagSOPInstanceUID, "UI", "1.2.826.0.1.3680043.2.1125.1"),
		str(tagPatientID, "LO", "BASE-PID"),
		str(tagModality, "CS", "OT"),
	}
	in := planted(tag, vr)
	data := buildFile(t, syn, append(base, in)...)
	out, _, err := anonymizeBytes(t, a, data)
	if err != nil {
		t.Errorf("%s %s (%s): %v", tag, Keyword(tag), want, err)
		return
	}
	got := parseAll(t, out).ds.find(tag)
	name := tag.String() + " " + Keyword(tag) + " [" + want + "]"
	inner := func() *dataset {
		if got == nil || len(got.items) == 0 {
			return nil
		}
		return got.items[0]
	}
	switch want {
	case "X":
		if override := (&file{a: a, top: &dataset{}}).iodOverride(tag, "X"); override != "X" {
			return // checked by TestIODOverrides
		}
		if got != nil {
			t.Errorf("%s: kept, want removed", name)
		}
	case "Z":
		if got == nil || len(got.value) != 0 || len(got.items) != 0 {
			t.Errorf("%s: want present and empty, got %v", name, got)
		}
	case "X/Z":
		if got == nil {
			t.Errorf("%s: removed, want present (empty or dummied)", name)
		} else if vr == "SQ" {
			checkDummiedItem(t, name, inner(), o)
		} else if len(got.value) != 0 {
			t.Errorf("%s: value %q, want empty", name, got.value)
		}
	case "D", "Z/D", "X/D", "X/Z/D":
		if got == nil {
			t.Errorf("%s: removed, want a dummy", name)
			return
		}
		if vr == "SQ" {
			checkDummiedItem(t, name, inner(), o)
			return
		}
		if len(got.value) == 0 {
			t.Errorf("%s: empty, want a non-empty dummy", name)
		}
		if vr != "UI" && bytes.Equal(bytes.TrimRight(got.value, " \x00"), bytes.TrimRight(in.value, " \x00")) && isStringVR(vr) {
			t.Errorf("%s: dummy equals the original %q", name, got.value)
		}
		if vr == "DA" && !dateRE.MatchString(got.str()) {
			t.Errorf("%s: dummy date %q is not a date", name, got.str())
		}
		if vr == "UI" && got.str() != expectedUID(testSecret, plantedUID) {
			t.Errorf("%s: %q, want the keyed UID", name, got.str())
		}
	case "U":
		if got == nil || got.str() != expectedUID(testSecret, plantedUID) {
			t.Errorf("%s: want the keyed UID %s, got %v", name, expectedUID(testSecret, plantedUID), got)
		}
	case "X/Z/U*":
		if got == nil {
			t.Errorf("%s: removed, want kept with UIDs replaced", name)
		} else if vr == "SQ" {
			if it := inner(); it == nil || it.str(0x00081155) != expectedUID(testSecret, plantedInner) {
				t.Errorf("%s: inner UID not replaced", name)
			}
		}
	case "K":
		gv := got
		if gv != nil && isStringVR(vr) {
			gv = &element{value: bytes.TrimRight(got.value, " \x00")}
		}
		if got == nil || vr != "SQ" && !bytes.Equal(gv.value, in.value) {
			t.Errorf("%s: want kept unchanged, got %v", name, got)
		}
	case "C":
		if got == nil && vr != "OB" && vr != "OW" && vr != "UN" {
			t.Errorf("%s: removed, want cleaned and kept", name)
		}
		if got != nil && (vr == "DA" || vr == "DT") && o.RetainLongitudinalModifiedDates {
			if got.str()[:8] == "20200315" {
				t.Errorf("%s: date not shifted under modified dates", name)
			}
		}
	default:
		t.Errorf("%s: unexpected action in table", name)
	}
	if want != "K" && want != "C" && !o.RetainUIDs && bytes.Contains(out, []byte(plantedUID)) {
		t.Errorf("%s: original UID survives in the output bytes", name)
	}
	if want != "K" && want != "C" && (bytes.Contains(out, []byte("PLANTED")) || bytes.Contains(out, []byte("planted.example"))) {
		t.Errorf("%s: planted value survives in the output bytes", name)
	}
}

// checkDummiedItem: a dummied item keeps its structure, replaces UIDs and
// carries no original text.
func checkDummiedItem(t *testing.T, name string, it *dataset, o Options) {
	t.Helper()
	if it == nil {
		t.Errorf("%s: sequence item missing", name)
		return
	}
	wantUID := expectedUID(testSecret, plantedInner)
	if o.RetainUIDs {
		wantUID = plantedInner
	}
	if it.str(0x00081155) != wantUID {
		t.Errorf("%s: UID inside the item not replaced", name)
	}
	if strings.Contains(it.str(0x00100010), "PLANTED") {
		t.Errorf("%s: name inside the item kept", name)
	}
}

// TestIODOverrides: the few removals that would break an IOD give an empty
// or dummy value instead, and never the original.
func TestIODOverrides(t *testing.T) {
	syn, _ := syntaxOf(tsExplicitLE)
	a, _ := New(&Profile{Secret: testSecret})
	base := []*element{
		str(tagSOPClassUID, "UI", "1.2.840.10008.5.1.4.1.1.11.1"),
		str(tagSOPInstanceUID, "UI", "1.2.3.4"),
		str(0x00700082, "DA", "20200315"),
		str(0x00700083, "TM", "101010"),
		str(0x00102201, "LO", "Canine"),
		str(0x00102297, "PN", "Owner^Name"),
		str(0x00102298, "CS", "OWNER"),
		str(0x00102299, "LO", "Kennel Club"),
	}
	out, _, err := anonymizeBytes(t, a, buildFile(t, syn, base...))
	if err != nil {
		t.Fatal(err)
	}
	ds := parseAll(t, out).ds
	if d := ds.str(0x00700082); !dateRE.MatchString(d) || d == "20200315" {
		t.Errorf("PresentationCreationDate %q, want a shifted date", d)
	}
	if ds.find(0x00700083) == nil {
		t.Error("PresentationCreationTime removed")
	}
	for _, tg := range []Tag{0x00102297, 0x00102299} {
		if e := ds.find(tg); e == nil || len(e.value) != 0 {
			t.Errorf("%s: want present and empty for an animal patient", tg)
		}
	}
	if ds.find(0x00102298) != nil {
		t.Error("ResponsiblePersonRole kept although Responsible Person is empty")
	}
}

// TestTableMatchesSource compares the generated table with the
// machine-readable PS3.15 table when ../shared is present (as on CI).
func TestTableMatchesSource(t *testing.T) {
	data, err := os.ReadFile("../../shared/ps3.15-e1-1/confidentiality_profile_attributes.json")
	if err != nil {
		t.Skip("../shared not present:", err)
	}
	var rows []map[string]string
	if err := json.Unmarshal(data, &rows); err != nil {
		t.Fatal(err)
	}
	if len(rows) != tableRows {
		t.Fatalf("source has %d rows, generated table %d: run go generate", len(rows), tableRows)
	}
	for _, r := range rows {
		tg := r["tag"]
		if strings.ContainsAny(tg[1:10], "Xx") || strings.Contains(tg, "GGGG") {
			continue
		}
		var g, e uint16
		if _, err := fmtSscanf(tg, &g, &e); err != nil {
			t.Fatalf("bad tag %q", tg)
		}
		entry, ok := lookupTable(NewTag(g, e))
		if !ok || entry.basic != r["basicProfile"] {
			t.Errorf("%s: generated %q, source %q", tg, entry.basic, r["basicProfile"])
		}
	}
}

func fmtSscanf(s string, g, e *uint16) (int, error) {
	return fmt.Sscanf(s, "(%04X,%04X)", g, e)
}
