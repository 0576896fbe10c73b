package policy

import (
	"errors"
	"strings"
	"testing"
)

// wantProblem is an expected problem; Column 0 means "don't check".
type wantProblem struct {
	line, col int
	field     string
	msg       string // substring of the message
}

func TestValidation(t *testing.T) {
	tests := []struct {
		name  string
		src   string
		files map[string]string // extra files next to the policy
		want  []wantProblem
	}{
		{"empty file", "", nil, []wantProblem{{1, 0, "", "empty policy"}}},
		{"only comments", "# nothing\n\n", nil, []wantProblem{{1, 0, "", "empty policy"}}},
		{"only document marker", "---\n", nil, []wantProblem{{2, 1, "", "must be a mapping"}}},
		{"not a mapping", "- a\n", nil, []wantProblem{{1, 1, "", "must be a mapping"}}},
		{"syntax error in flow list", "id: a\nversion: [1\n", nil, []wantProblem{{2, 0, "", "YAML syntax: did not find expected ',' or ']'"}}},
		{"syntax error bad indent", "id: a\nversion: 1\nrules:\n  - tag: a\n  action: b\n", nil, []wantProblem{{4, 0, "", "YAML syntax: did not find expected '-' indicator"}}},
		{"syntax error scanner", "id: a\nversion: 1\nx: @a\n", nil, []wantProblem{{3, 0, "", "YAML syntax: found character that cannot start any token"}}},
		{"two documents", "id: a\nversion: 1\n---\nid: b\n", nil, []wantProblem{{3, 1, "", "only one YAML document"}}},
		{"anchors", "id: &x a\nversion: 1\ndescription: *x\n", nil, []wantProblem{
			{1, 5, "", "anchors and aliases"}, {3, 14, "", "anchors and aliases"}}},
		{"missing required", "description: x\n", nil, []wantProblem{
			{1, 1, "id", "missing required field"}, {1, 1, "version", "missing required field"}}},
		{"unknown top-level field with suggestion", "id: a\nversion: 1\noptoins: []\n", nil, []wantProblem{
			{3, 1, "optoins", `unknown field (did you mean "options"?)`}}},
		{"duplicate key", "id: a\nversion: 1\nid: b\n", nil, []wantProblem{{3, 1, "id", "duplicate key"}}},
		{"bad id and version", "id: Trial_1\nversion: 0\n", nil, []wantProblem{
			{1, 5, "id", "must be 1 to 64 characters"}, {2, 10, "version", "positive integer"}}},
		{"version not an integer", "id: a\nversion: \"3\"\n", nil, []wantProblem{{2, 10, "version", "must be an integer"}}},
		{"bad enums", y(`
id: a
version: 1
profile: strict
burned_in_annotation: send
unknown_public: maybe
date_shift: {max_days: 0, min_days: 1}
patient_id_prefix: ""
`), nil, []wantProblem{
			{3, 10, "profile", "unsupported profile"},
			{4, 23, "burned_in_annotation", "quarantine or allow"},
			{5, 17, "unknown_public", "remove or keep"},
			{6, 24, "date_shift.max_days", "between 1 and"},
			{6, 27, "date_shift.min_days", `unknown field (did you mean "max_days"?)`},
			{7, 20, "patient_id_prefix", "1 to 16 characters"},
		}},
		{"options", y(`
id: a
version: 1
options:
  - retain-uid
  - retain-uids
  - retain-uids
  - retain-long-full-dates
  - retain-long-modified-dates
`), nil, []wantProblem{
			{4, 3, "options", "exclude each other"},
			{4, 5, "options[0]", `unknown option "retain-uid" (did you mean "retain-uids"?)`},
			{6, 5, "options[2]", "listed twice"},
		}},
		{"rule basics", y(`
id: a
version: 1
rules:
  - tag: PatientId
    action: keep
  - tag: PatientID
    action: scramble
  - action: keep
  - tag: PatientName
  - tag: PatientName
    action: keep
    vlaue: x
  - not-a-mapping
`), nil, []wantProblem{
			{4, 10, "rules[0].tag", `unknown DICOM keyword "PatientId"`},
			{7, 13, "rules[1].action", `unknown action "scramble"`},
			{8, 5, "rules[2].tag", "missing required field"},
			{9, 5, "rules[3].action", "missing required field"},
			{12, 5, "rules[4].vlaue", `unknown field (did you mean "value"?)`},
			{13, 5, "rules[5]", "must be a mapping"},
		}},
		{"bad tag syntax", y(`
id: a
version: 1
rules:
  - {tag: "(0010,0020", action: keep}
  - {tag: "(001G,0020)", action: keep}
  - {tag: "(0019,1023)", action: keep}
  - {tag: "(0018,{GEMS}23)", action: keep}
  - {tag: "(61xx,4000)", action: keep}
  - {tag: "(0019,{}23)", action: keep}
  - {tag: "(0019,{GEMS}123)", action: keep}
  - {tag: "Patient ID", action: keep}
`), nil, []wantProblem{
			{4, 11, "rules[0].tag", "missing closing parenthesis"},
			{5, 11, "rules[1].tag", "group must be 4 hex digits"},
			{6, 11, "rules[2].tag", "private tag needs its creator"},
			{7, 11, "rules[3].tag", "even (public) group"},
			{8, 11, "rules[4].tag", "repeating group"},
			{9, 11, "rules[5].tag", "empty private creator"},
			{10, 11, "rules[6].tag", "2 hex digits"},
			{11, 11, "rules[7].tag", "must be a keyword"},
		}},
		{"wrong action and field combinations", y(`
id: a
version: 1
rules:
  - tag: PatientID
    action: keep
    pattern: x
    table: subjects.csv
  - tag: PatientName
    action: replace
  - tag: StudyDescription
    action: regex
    value: x
  - tag: StudyDate
    action: date_shift
    shift_days: 0
    missing: hash
`), nil, []wantProblem{
			{6, 5, "rules[0].pattern", "not used by action keep (only by regex)"},
			{7, 5, "rules[0].table", "not used by action keep (only by lookup)"},
			{8, 5, "rules[1].value", "required by action replace"},
			{10, 5, "rules[2].pattern", "required by action regex"},
			{15, 17, "rules[3].shift_days", "non-zero"},
			{16, 5, "rules[3].missing", "only by lookup"},
		}},
		{"bad regex is not echoed", y(`
id: a
version: 1
rules:
  - tag: StudyDescription
    action: regex
    pattern: '(dr smith'
    value: x
`), nil, []wantProblem{{6, 14, "rules[0].pattern", "invalid regular expression: missing closing )"}}},
		{"lookup problems", y(`
id: a
version: 1
rules:
  - {tag: PatientID, action: lookup, table: missing.csv}
  - {tag: PatientName, action: lookup, table: ../subjects.csv}
  - {tag: OtherPatientIDs, action: lookup, table: dup.csv, missing: ignore}
  - {tag: IssuerOfPatientID, action: lookup, table: subjects.csv, key_column: mrn}
  - {tag: AccessionNumber, action: lookup}
`), map[string]string{
			"subjects.csv": subjectsCSV,
			"dup.csv":      "id_old,id_new\nA,X1\nB,X2\nA,X3\n,X4\nC,\nD,X2\n",
		}, []wantProblem{
			{4, 45, "rules[0].table", "table file missing.csv not found"},
			{5, 47, "rules[1].table", "relative path inside the policy's folder"},
			{6, 51, "rules[2].table", "table dup.csv line 4: duplicate key (first on line 2)"},
			{6, 51, "rules[2].table", "table dup.csv line 5: empty key"},
			{6, 51, "rules[2].table", "table dup.csv line 6: empty value"},
			{6, 51, "rules[2].table", "table dup.csv line 7: duplicate value (first on line 3)"},
			{6, 69, "rules[2].missing", "reject, hash or empty"},
			{7, 53, "rules[3].table", `header has no column "mrn"`},
			{8, 5, "rules[4].table", "required by action lookup"},
		}},
		{"csv syntax", "id: a\nversion: 1\nrules:\n  - {tag: PatientID, action: lookup, table: s.csv}\n",
			map[string]string{"s.csv": "id_old,id_new\nA,B\nC,D,E\n"},
			[]wantProblem{{4, 45, "rules[0].table", "line 3: wrong number of fields"}}},
		{"unreachable rule", y(`
id: a
version: 1
rules:
  - {tag: PatientID, action: keep, when: {Modality: US}}
  - {tag: PatientID, action: remove}
  - {tag: '(0010,0020)', action: hash}
`), nil, []wantProblem{{6, 5, "rules[2]", "never applies: the rule on line 5 (rules[1])"}}},
		{"conditions", y(`
id: a
version: 1
rules:
  - tag: InstitutionName
    action: remove
    when:
      Modality: {match: US}
      Manufacturer: {matches: '[a-'}
      Bogus: x
      "(0019,{X}10)": x
      StationName: []
      PatientSex: {present: yes-please}
      SeriesNumber: {}
      Rows: ~
  - {tag: PatientName, action: remove, when: {}}
`), nil, []wantProblem{
			{7, 18, "rules[0].when.Modality.match", `unknown field (did you mean "matches"?)`},
			{8, 31, "rules[0].when.Manufacturer.matches", "invalid regular expression"},
			{9, 7, "rules[0].when.Bogus", "unknown DICOM keyword"},
			{10, 7, "rules[0].when.(0019,{X}10)", "public top-level tag"},
			{11, 20, "rules[0].when.StationName", "at least one value"},
			{12, 29, "rules[0].when.PatientSex.present", "true or false"},
			{13, 21, "rules[0].when.SeriesNumber", "needs a test"},
			{14, 13, "rules[0].when.Rows", "must be a string"},
			{15, 46, "rules[1].when", "at least one condition"},
		}},
		{"filters", y(`
id: a
version: 1
filters:
  - accept: {Modality: CT}
    reason: why
  - accept: {Modality: CT}
    reject: {Modality: SR}
  - reason: nothing
  - reject: {Modalty: SR}
`), nil, []wantProblem{
			{5, 5, "filters[0].reason", "only reject filters have a reason"},
			{6, 5, "filters[1]", "both accept and reject"},
			{8, 5, "filters[2]", "needs accept or reject"},
			{9, 14, "filters[3].reject.Modalty", "unknown DICOM keyword"},
		}},
		{"recipients", "id: a\nversion: 1\nrecipients: [k1, k1, '']\n", nil, []wantProblem{
			{3, 18, "recipients[1]", "listed twice"}, {3, 22, "recipients[2]", "public key string"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeDir(t, tt.files)
			p, err := Parse("p.yaml", []byte(tt.src), dir)
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("Parse = %v, %v; want a *ValidationError", p, err)
			}
			if ve.File != "p.yaml" {
				t.Errorf("File = %q", ve.File)
			}
			if len(ve.Problems) != len(tt.want) {
				t.Fatalf("got %d problems, want %d:\n%v", len(ve.Problems), len(tt.want), err)
			}
			for i, w := range tt.want {
				g := ve.Problems[i]
				if g.Line != w.line || (w.col != 0 && g.Column != w.col) || g.Field != w.field || !strings.Contains(g.Message, w.msg) {
					t.Errorf("problem %d = %d:%d %q %q\nwant        %d:%d %q containing %q", i, g.Line, g.Column, g.Field, g.Message,
						w.line, w.col, w.field, w.msg)
				}
			}
		})
	}
}

func TestValidationErrorFormat(t *testing.T) {
	e := &ValidationError{File: "p.yaml", Problems: []Problem{
		{Line: 3, Column: 5, Field: "rules[0].tag", Message: "bad"},
		{Line: 7, Message: "YAML syntax: x"},
		{Message: "too large"},
	}}
	want := "p.yaml:3:5: rules[0].tag: bad\np.yaml:7: YAML syntax: x\np.yaml:too large"
	if got := e.Error(); got != want {
		t.Errorf("Error() =\n%s\nwant\n%s", got, want)
	}
}

// TestNoTableValuesInErrors checks that no lookup table content appears in
// problem messages, whatever is wrong with the table.
func TestNoTableValuesInErrors(t *testing.T) {
	secrets := []string{"MRN-SECRET-1", "SUBJ-SECRET-2", "Doe^Jane"}
	tables := map[string]string{
		"dupkey.csv": "id_old,id_new\nMRN-SECRET-1,SUBJ-SECRET-2\nMRN-SECRET-1,X\n",
		"dupval.csv": "id_old,id_new\nMRN-SECRET-1,SUBJ-SECRET-2\nDoe^Jane,SUBJ-SECRET-2\n",
		"quote.csv":  "id_old,id_new\n\"MRN-SECRET-1,SUBJ-SECRET-2\n",
		"long.csv":   "id_old,id_new\nDoe^Jane,SUBJ-SECRET-2" + strings.Repeat("x", 80) + "\n",
		"bs.csv":     "id_old,id_new\nDoe^Jane,SUBJ-SECRET-2\\x\n",
	}
	for name := range tables {
		t.Run(name, func(t *testing.T) {
			dir := writeDir(t, tables)
			src := "id: a\nversion: 1\nrules:\n  - {tag: PatientID, action: lookup, table: " + name + "}\n"
			_, err := Parse("p.yaml", []byte(src), dir)
			if err == nil {
				t.Fatal("no error")
			}
			for _, s := range secrets {
				if strings.Contains(err.Error(), s) {
					t.Errorf("error quotes table content %q: %v", s, err)
				}
			}
		})
	}
}
