package anonymize

import (
	"bytes"
	"testing"
)

// A shifted date that lands on another original date of the file is
// emptied; the other dates keep the patient's shift.
func TestShiftedDateCollision(t *testing.T) {
	s := synthSyntax(t, tsExplicitLE)
	in := buildFile(t, s,
		synthStr(tagSOPClassUID, "UI", "1.2.840.10008.5.1.4.1.1.88.11"),
		synthStr(tagSOPInstanceUID, "UI", pixSOPInstance),
		synthStr(0x00080012, "DA", "20001005"), // InstanceCreationDate: lands on StudyDate
		synthStr(0x00080020, "DA", "20001004"), // StudyDate
		synthStr(0x0008002A, "DT", "20001005120000"),
		synthStr(tagModality, "CS", "SR"),
		synthStr(tagPatientID, "LO", "MRN0042917"),
		synthSeq(0x0040A730,
			synthItem(synthStr(0x0040A040, "CS", "DATE"), synthStr(0x0040A121, "DA", "20001010")),
			synthItem(synthStr(0x0040A040, "CS", "DATE"), synthStr(0x0040A121, "DA", "20001011")),
		),
	)
	for _, o := range []Options{
		{},
		{CleanStructuredContent: true, RetainLongitudinalModifiedDates: true},
	} {
		// A one-day maximum makes the shift exactly one day.
		a := synthAnonymizer(t, &Profile{Options: o, MaxDateShiftDays: 1})
		out, rep, err := anonymizeBytes(t, a, in)
		if err != nil {
			t.Fatal(err)
		}
		for _, orig := range []string{"20001004", "20001005", "20001010", "20001011"} {
			if bytes.Contains(out, []byte(orig)) {
				t.Errorf("options %+v: original date %s in the output", o, orig)
			}
		}
		ds := parseAll(t, out).ds
		if v := ds.str(0x00080020); v != "" && v != "20001003" {
			t.Errorf("options %+v: StudyDate = %q, want 20001003 (or emptied by the profile)", o, v)
		}
		// The SR dates: the first lands on nothing, the second on the first.
		var srDates []string
		walkAll(ds, func(e *element) {
			if e.tag == 0x0040A121 {
				srDates = append(srDates, e.str())
			}
		})
		if len(srDates) != 2 || srDates[0] != "20001009" || srDates[1] != "" {
			t.Errorf("options %+v: SR dates = %q, want [20001009 \"\"]", o, srDates)
		}
		if rep.DatesEmptied < 1 {
			t.Errorf("options %+v: report counts %d dates emptied", o, rep.DatesEmptied)
		}
	}
}

func TestCollectDates(t *testing.T) {
	ds := synthItem(
		synthStr(0x00080020, "DA", "20001004-20001010"),
		synthStr(0x00080050, "SH", "12345678"),
		synthStr(0x00081030, "LO", "CT CHEST 20010101"),
		synthStr(0x00180050, "DS", "12345678"),
		synthSeq(0x0040A730, synthItem(synthStr(0x0040A121, "DA", "20001011\\20001011 "))),
	)
	got := collectDates(ds, nil)
	want := []string{"20001004-20001010", "20001004", "20001010", "12345678", "20001011"}
	if len(got) != len(want) {
		t.Fatalf("collectDates = %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("collectDates = %q, want %q", got, want)
		}
	}
}
