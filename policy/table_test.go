package policy

import (
	"maps"
	"strings"
	"testing"
)

func TestLoadTable(t *testing.T) {
	tests := []struct {
		name     string
		csv      string // written as t.csv; "" means t.csv is a folder
		key, val string
		want     map[string]string
		problem  string // substring of the first problem; "" means success
	}{
		{name: "defaults", csv: subjectsCSV, key: "id_old", val: "id_new",
			want: map[string]string{"MRN1": "SUBJ-1", "MRN2": "SUBJ-2"}},
		{name: "bom, crlf, extra columns, custom names, quoting", key: "mrn", val: "subject",
			csv:  "\uFEFFmrn,site,subject\r\n\"A,1\",x,S1\r\n B ,y, S2 \r\n\r\n",
			want: map[string]string{"A,1": "S1", "B": "S2"}},
		{name: "folder", csv: "", key: "id_old", val: "id_new", problem: "not a regular file"},
		{name: "empty file", csv: "\n", key: "id_old", val: "id_new", problem: "needs a header row"},
		{name: "header only", csv: "id_old,id_new\n", key: "id_old", val: "id_new", problem: "has no rows"},
		{name: "duplicate header", csv: "id_old,id_new,id_old\na,b,c\n", key: "id_old", val: "id_new", problem: `column "id_old" appears twice`},
		{name: "bare quote", csv: "id_old,id_new\na\"b,c\n", key: "id_old", val: "id_new", problem: "line 2: bare \" in non-quoted-field"},
		{name: "value too long", csv: "id_old,id_new\na," + strings.Repeat("x", 65) + "\n", key: "id_old", val: "id_new", problem: "line 2: value longer than 64"},
		{name: "control character", csv: "id_old,id_new\na,b\tc\n", key: "id_old", val: "id_new", problem: "line 2: value contains a control character"},
		{name: "too many problems", csv: "id_old,id_new\n" + strings.Repeat(",x\n", 50), key: "id_old", val: "id_new", problem: "line 2: empty key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := map[string]string{"t.csv": tt.csv}
			if tt.csv == "" {
				files = map[string]string{"t.csv/x": "x"}
			}
			dir := writeDir(t, files)
			tab, probs := loadTable(dir, "t.csv", tt.key, tt.val)
			if tt.problem == "" {
				if len(probs) > 0 || !maps.Equal(tab.entries, tt.want) || len(tab.sha256) != 64 {
					t.Errorf("loadTable = %v, %q; want %v", tab.entries, probs, tt.want)
				}
				return
			}
			if len(probs) == 0 || !strings.Contains(probs[0], tt.problem) {
				t.Fatalf("problems = %q, want first containing %q", probs, tt.problem)
			}
			if len(probs) > maxTableProblems+1 {
				t.Errorf("%d problems, want at most %d", len(probs), maxTableProblems+1)
			}
		})
	}
}

func TestLookupColumnsMustDiffer(t *testing.T) {
	dir := writeDir(t, map[string]string{"s.csv": subjectsCSV})
	src := "id: a\nversion: 1\nrules:\n  - {tag: PatientID, action: lookup, table: s.csv, key_column: id_old, value_column: id_old}\n"
	if _, err := Parse("p.yaml", []byte(src), dir); err == nil || !strings.Contains(err.Error(), "p.yaml:4:5: rules[0].value_column: key and value columns must differ") {
		t.Errorf("Parse = %v", err)
	}
}
