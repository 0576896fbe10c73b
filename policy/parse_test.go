package policy

import (
	"errors"
	"slices"
	"testing"

	"dicomgate/anonymize"
)

func TestParseTopLevel(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want func(t *testing.T, p *Policy, prof *anonymize.Profile)
	}{
		{
			name: "minimal gets explicit defaults",
			src:  "id: a\nversion: 1\n",
			want: func(t *testing.T, p *Policy, prof *anonymize.Profile) {
				if prof.BurnedIn != anonymize.BurnedInQuarantine || prof.KeepUnknownPublic ||
					prof.MaxDateShiftDays != DefaultMaxDateShiftDays || prof.PatientIDPrefix != DefaultPatientIDPrefix {
					t.Errorf("defaults = %+v", prof)
				}
				if prof.Options != (anonymize.Options{}) || len(prof.Rules) != 0 || len(prof.Filters) != 0 {
					t.Errorf("minimal policy has options, rules or filters: %+v", prof)
				}
			},
		},
		{
			name: "all top-level fields",
			src: y(`
id: trial-abc-2
version: 7
description: |
  A trial.
profile: basic
options: [retain-uids, retain-safe-private]
burned_in_annotation: allow
unknown_public: keep
date_shift: {max_days: 30}
patient_id_prefix: "T-"
recipients: [key-b, key-a]
`),
			want: func(t *testing.T, p *Policy, prof *anonymize.Profile) {
				if p.ID() != "trial-abc-2" || p.Version() != 7 || p.Description() != "A trial." {
					t.Errorf("id/version/description = %q %d %q", p.ID(), p.Version(), p.Description())
				}
				if prof.ID != "trial-abc-2" || prof.Version != "7" || prof.Hash != p.Hash() || len(prof.Hash) != 64 {
					t.Errorf("profile identity = %q %q %q", prof.ID, prof.Version, prof.Hash)
				}
				want := anonymize.Options{RetainUIDs: true, RetainSafePrivate: true}
				if prof.Options != want || p.Options() != want {
					t.Errorf("options = %+v", prof.Options)
				}
				if prof.BurnedIn != anonymize.BurnedInAllow || !prof.KeepUnknownPublic ||
					prof.MaxDateShiftDays != 30 || prof.PatientIDPrefix != "T-" {
					t.Errorf("profile = %+v", prof)
				}
				if got := p.Recipients(); !slices.Equal(got, []string{"key-b", "key-a"}) {
					t.Errorf("recipients = %q", got)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustParse(t, tt.src)
			prof, err := p.Compile([]byte(testSecret))
			if err != nil {
				t.Fatal(err)
			}
			tt.want(t, p, prof)
		})
	}
}

func TestParseRules(t *testing.T) {
	patientID, _ := anonymize.TagByKeyword("PatientID")
	modality, _ := anonymize.TagByKeyword("Modality")
	manufacturer, _ := anonymize.TagByKeyword("Manufacturer")
	tests := []struct {
		name string
		rule string // one rule, indented as a list item of rules:
		want anonymize.Rule
	}{
		{"keep letter", "- {tag: PatientID, action: K}", anonymize.Rule{Select: anonymize.Selector{Tag: patientID}, Action: anonymize.ActKeep}},
		{"remove letter", "- {tag: PatientID, action: X}", anonymize.Rule{Select: anonymize.Selector{Tag: patientID}, Action: anonymize.ActRemove}},
		{"empty letter", "- {tag: PatientID, action: Z}", anonymize.Rule{Select: anonymize.Selector{Tag: patientID}, Action: anonymize.ActEmpty}},
		{"dummy letter", "- {tag: PatientID, action: D}", anonymize.Rule{Select: anonymize.Selector{Tag: patientID}, Action: anonymize.ActDummy}},
		{"uid letter", "- {tag: '(0020,000D)', action: U}", anonymize.Rule{Select: anonymize.Selector{Tag: anonymize.NewTag(0x20, 0x0D)}, Action: anonymize.ActUID}},
		{"clean letter", "- {tag: PatientID, action: C}", anonymize.Rule{Select: anonymize.Selector{Tag: patientID}, Action: anonymize.ActClean}},
		{"reject", "- {tag: '(0019,{GEMS_ACQU_01}23)', action: reject}",
			anonymize.Rule{Select: anonymize.Selector{Tag: anonymize.NewTag(0x19, 0x23), PrivateCreator: "GEMS_ACQU_01"}, Action: anonymize.ActReject}},
		{"replace repeating group", "- {tag: '(60xx,4000)', action: replace, value: none}",
			anonymize.Rule{Select: anonymize.Selector{Tag: anonymize.NewTag(0x6000, 0x4000), GroupMask: 0xFF00}, Action: anonymize.ActReplace, Value: "none"}},
		{"hash with prefix", "- {tag: PatientID, action: hash, value: P-}", anonymize.Rule{Select: anonymize.Selector{Tag: patientID}, Action: anonymize.ActHash, Value: "P-"}},
		{"date shift fixed", "- {tag: StudyDate, action: date_shift, shift_days: -10}",
			anonymize.Rule{Select: anonymize.Selector{Tag: anonymize.NewTag(0x08, 0x20)}, Action: anonymize.ActDateShift, ShiftDays: -10}},
		{"lookup defaults", "- {tag: PatientID, action: lookup, table: subjects.csv}",
			anonymize.Rule{Select: anonymize.Selector{Tag: patientID}, Action: anonymize.ActLookup, Missing: anonymize.MissReject,
				Table: map[string]string{"MRN1": "SUBJ-1", "MRN2": "SUBJ-2"}}},
		{"lookup miss hash", "- {tag: PatientID, action: lookup, table: subjects.csv, missing: hash}",
			anonymize.Rule{Select: anonymize.Selector{Tag: patientID}, Action: anonymize.ActLookup, Missing: anonymize.MissHash,
				Table: map[string]string{"MRN1": "SUBJ-1", "MRN2": "SUBJ-2"}}},
		{"conditions", "- {tag: InstitutionName, action: replace, value: S1, when: {Modality: US, Manufacturer: {absent: false}}}",
			anonymize.Rule{Select: anonymize.Selector{Tag: anonymize.NewTag(0x08, 0x80)}, Action: anonymize.ActReplace, Value: "S1",
				When: []anonymize.Condition{{Tag: modality, Op: anonymize.OpEquals, Value: "US"}, {Tag: manufacturer, Op: anonymize.OpPresent}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "id: a\nversion: 1\nrules:\n  " + tt.rule + "\n"
			prof, err := mustParse(t, src).Compile([]byte(testSecret))
			if err != nil {
				t.Fatal(err)
			}
			if len(prof.Rules) != 1 {
				t.Fatalf("got %d rules", len(prof.Rules))
			}
			got := prof.Rules[0]
			if got.Source != "p.yaml:4" {
				t.Errorf("Source = %q, want p.yaml:4", got.Source)
			}
			if got.Select != tt.want.Select || got.Action != tt.want.Action || got.Value != tt.want.Value ||
				got.Missing != tt.want.Missing || got.ShiftDays != tt.want.ShiftDays {
				t.Errorf("rule = %+v\nwant %+v", got, tt.want)
			}
			if len(got.Table) != len(tt.want.Table) {
				t.Errorf("table has %d entries, want %d", len(got.Table), len(tt.want.Table))
			}
			for k, v := range tt.want.Table {
				if got.Table[k] != v {
					t.Errorf("table[%s] = %q, want %q", k, got.Table[k], v)
				}
			}
			if !slices.EqualFunc(got.When, tt.want.When, func(a, b anonymize.Condition) bool {
				return a.Tag == b.Tag && a.Op == b.Op && a.Value == b.Value && slices.Equal(a.Values, b.Values)
			}) {
				t.Errorf("when = %+v, want %+v", got.When, tt.want.When)
			}
		})
	}
}

func TestParseRegexAndConditions(t *testing.T) {
	src := y(`
id: a
version: 1
rules:
  - tag: StudyDescription
    action: regex
    pattern: '(?i)\bdr\.? [a-z]+'
    value: '[removed]'
    when: {Manufacturer: {matches: '(?i)acme'}}
filters:
  - reject: {Modality: [SR, KO]}
    reason: no reports
  - reject: {Modality: PR}
  - accept: {SOPClassUID: {in: [1.2.840.10008.5.1.4.1.1.2]}, BurnedInAnnotation: {equals: "NO"}}
`)
	prof, err := mustParse(t, src).Compile([]byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	r := prof.Rules[0]
	if r.Regex == nil || r.Regex.ReplaceAllString("seen by Dr. Smith", r.Value) != "seen by [removed]" {
		t.Errorf("regex rule does not replace: %+v", r)
	}
	if len(r.When) != 1 || r.When[0].Op != anonymize.OpMatches || !r.When[0].Regex.MatchString("ACME Corp") {
		t.Errorf("matches condition = %+v", r.When)
	}
	f := prof.Filters
	if len(f) != 3 {
		t.Fatalf("got %d filters", len(f))
	}
	if f[0].Action != anonymize.FilterReject || f[0].Reason != "no reports" ||
		f[0].When[0].Op != anonymize.OpIn || !slices.Equal(f[0].When[0].Values, []string{"SR", "KO"}) {
		t.Errorf("filter 0 = %+v", f[0])
	}
	if f[1].Reason != "rejected by policy filter 2" || f[1].When[0].Op != anonymize.OpEquals || f[1].When[0].Value != "PR" {
		t.Errorf("filter 1 = %+v", f[1])
	}
	if f[2].Action != anonymize.FilterAccept || len(f[2].When) != 2 ||
		f[2].When[0].Values[0] != "1.2.840.10008.5.1.4.1.1.2" || f[2].When[1].Value != "NO" {
		t.Errorf("filter 2 = %+v", f[2])
	}
}

func TestLoad(t *testing.T) {
	dir := writeDir(t, map[string]string{
		"p.yaml":       "id: a\nversion: 2\nrules:\n  - {tag: PatientID, action: lookup, table: t/s.csv}\n",
		"t/s.csv":      subjectsCSV,
		"bad.yaml":     "id: a\nversion: 0\n",
		"notpolicy.md": "",
	})
	p, err := Load(dir + "/p.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if p.Version() != 2 {
		t.Errorf("version = %d", p.Version())
	}
	_, err = Load(dir + "/bad.yaml")
	var ve *ValidationError
	if !errors.As(err, &ve) || ve.File != dir+"/bad.yaml" || len(ve.Problems) != 1 || ve.Problems[0].Line != 2 {
		t.Errorf("Load(bad) = %v", err)
	}
	if _, err := Load(dir + "/missing.yaml"); err == nil || errors.As(err, &ve) {
		t.Errorf("Load(missing) = %v, want a plain error", err)
	}
}
