package anonymize

import (
	"strings"
	"testing"
)

// textFile is a file whose free text (descriptions, comments, SR text at
// two depths) mentions the identifying values of its own header, written
// in other forms.
func textFile(t *testing.T, text string) []byte {
	t.Helper()
	s := synthSyntax(t, tsExplicitLE)
	textItem := func(v string, nested ...*element) *dataset {
		return synthItem(append([]*element{
			synthStr(0x0040A040, "CS", "TEXT"),
			synthStr(0x0040A160, "UT", v),
		}, nested...)...)
	}
	return buildFile(t, s,
		synthStr(tagSOPClassUID, "UI", "1.2.840.10008.5.1.4.1.1.88.11"),
		synthStr(tagSOPInstanceUID, "UI", pixSOPInstance),
		synthStr(0x00080020, "DA", "20240131"),
		synthStr(0x00080050, "SH", "ACC77123"),
		synthStr(tagModality, "CS", "SR"),
		synthStr(0x00080080, "LO", "St Brigid General Hospital"),
		synthStr(0x00080090, "PN", "KOWALSKI^PIOTR^^DR"),
		synthStr(0x00081030, "LO", "CT chest mary-ann o'brien 04.07.1961"),
		synthStr(tagPatientName, "PN", "O'BRIEN^MARY-ANN^J^MS"),
		synthStr(tagPatientID, "LO", "MRN0042917"),
		synthStr(0x00100030, "DA", "19610704"),
		synthStr(0x00101040, "LO", "12 Quayside Lane, Dunmore"),
		synthStr(0x00204000, "LT", text),
		synthStr(0x00324000, "LT", strings.ToUpper(text)),
		synthSeq(0x0040A730,
			textItem(text, synthSeq(0x0040A730, textItem(strings.ToLower(text)))),
			synthItem(synthStr(0x0040A040, "CS", "PNAME"), synthStr(0x0040A123, "PN", "O'BRIEN^MARY-ANN")),
			synthItem(synthStr(0x0040A040, "CS", "DATE"), synthStr(0x0040A121, "DA", "20240131")),
			synthItem(synthStr(0x0040A040, "CS", "UIDREF"), synthStr(0x0040A124, "UI", synthStudy)),
		),
	)
}

func TestCleanTextRemovesPlantedValues(t *testing.T) {
	// Each planted value in another form, between words that must stay.
	text := "Annual review for Mary-Ann O'Brien (brien, mary ann), MRN 0042-917, " +
		"also 0042917; born 4 July 1961 and 07/04/1961 and 1961-07-04; study 31.01.2024; " +
		"acc ACC-77123; referred by Dr Piotr Kowalski (kowalski piotr) from Brigid Hospital; " +
		"lives 12 Quayside Lane, Dunmore; call +44 20 7946 0958 or mary.obrien@example.org; " +
		"postcode SW1A 1AA or 02139; chart 55501234. Stable nodule in the left lung, follow-up in 6 months."
	planted := []string{"mary", "brien", "0042", "917", "1961", "july", "2024", "77123", "piotr", "kowalski",
		"brigid", "quayside", "dunmore", "7946", "0958", "obrien", "example.org", "sw1a", "02139", "55501234"}
	kept := []string{"annual", "review", "stable", "nodule", "left lung", "follow-up", "6 months", "hospital"}
	for _, o := range []Options{
		{CleanDescriptors: true, CleanStructuredContent: true},
		{CleanDescriptors: true, CleanStructuredContent: true, RetainLongitudinalModifiedDates: true},
	} {
		a := synthAnonymizer(t, &Profile{Options: o})
		out, _, err := anonymizeBytes(t, a, textFile(t, text))
		if err != nil {
			t.Fatal(err)
		}
		ds := parseAll(t, out).ds
		var texts []string
		walkAll(ds, func(e *element) {
			switch e.tag {
			case 0x00204000, 0x00324000, 0x0040A160, 0x00081030:
				texts = append(texts, e.str())
			}
		})
		if len(texts) != 5 {
			t.Fatalf("%d free-text values kept, want 5", len(texts))
		}
		for _, v := range texts {
			lv := strings.ToLower(v)
			for _, p := range planted {
				if strings.Contains(lv, p) {
					t.Errorf("planted %q survives in %q", p, v)
				}
			}
			if len(v) < 60 {
				continue // the study description
			}
			for _, k := range kept {
				if !strings.Contains(lv, k) {
					t.Errorf("non-identifying %q lost from %q", k, v)
				}
			}
		}
		// SR content items: PNAME dummied, DATE shifted, UIDREF keyed.
		walkAll(ds, func(e *element) {
			switch e.tag {
			case 0x0040A123:
				if e.str() != dummyText {
					t.Errorf("PNAME = %q", e.str())
				}
			case 0x0040A121:
				if want := shiftDate("20240131", a.ps.shiftDays("MRN0042917")); e.str() != want {
					t.Errorf("DATE = %q, want %q", e.str(), want)
				}
			case 0x0040A124:
				if e.str() != a.ps.uid(synthStudy) {
					t.Errorf("UIDREF not the keyed UID")
				}
			}
		})
	}
}

func TestCleanTextPatterns(t *testing.T) {
	tp := newTextPatterns()
	for in, want := range map[string]string{
		"call (555) 123-4567 now":             "call *** now",
		"BP 120 80, HR 72":                    "BP 120 80, HR 72",
		"seen on March 3rd, 2021 again":       "seen on *** again",
		"seen 3-MAR-21 again":                 "seen *** again",
		"mail a.b@c.example.com please":       "mail *** please",
		"ID 12345678 and 1234567890123":       "ID *** and ***",
		"K1A 0B1 and 90210-1234 and EC1A 1BB": "*** and *** and ***",
		"T2 FLAIR 5 mm":                       "T2 FLAIR 5 mm",
	} {
		if got := tp.clean(in); got != want {
			t.Errorf("clean(%q) = %q, want %q", in, got, want)
		}
	}
}

func walkAll(ds *dataset, fn func(*element)) {
	for _, e := range ds.elems {
		fn(e)
		for _, it := range e.items {
			walkAll(it, fn)
		}
	}
}

func TestEncapsulatedDocuments(t *testing.T) {
	s := synthSyntax(t, tsExplicitLE)
	doc := func(mime, content string) []byte {
		return buildFile(t, s,
			synthStr(tagSOPClassUID, "UI", "1.2.840.10008.5.1.4.1.1.104.2"),
			synthStr(tagSOPInstanceUID, "UI", pixSOPInstance),
			synthStr(tagPatientName, "PN", "PHI-NAME^ABCDEF"),
			&element{tag: tagEncapsulatedDocument, vr: "OB", value: []byte(content)},
			synthStr(tagMIMETypeOfDocument, "LO", mime),
		)
	}
	for _, c := range []struct {
		keep       bool
		mime, want string
	}{
		{false, "application/pdf", string(dummyPDF)},
		{false, "text/XML", emptyCDA},
		{true, "text/XML", "<ClinicalDocument>PHI-NAME</ClinicalDocument>"},
	} {
		a := synthAnonymizer(t, &Profile{KeepEncapsulatedDocuments: c.keep})
		out, _, err := anonymizeBytes(t, a, doc(c.mime, "<ClinicalDocument>PHI-NAME</ClinicalDocument>"))
		if err != nil {
			t.Fatal(err)
		}
		got := strings.TrimRight(parseAll(t, out).ds.str(tagEncapsulatedDocument), "\x00")
		if got != c.want {
			t.Errorf("keep=%v %s: document = %q", c.keep, c.mime, got)
		}
	}
}

func TestCodeLike(t *testing.T) {
	for w, want := range map[string]bool{
		"4e0751": true, "a46d67": true, "eaeed1": true, "ACC2023X45": true,
		"T2STAR": false, "b1000": false, "MPRAGE": false, "CHEST": false, "123456": false, "decade": false,
	} {
		if got := codeLike(w); got != want {
			t.Errorf("codeLike(%q) = %v, want %v", w, got, want)
		}
	}
}
