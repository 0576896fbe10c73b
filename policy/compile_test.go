package policy

import (
	"bytes"
	"strings"
	"testing"

	"dicomgate/anonymize"
)

func TestCompileSecret(t *testing.T) {
	p := mustParse(t, "id: a\nversion: 1\n")
	tests := []struct {
		name    string
		secret  []byte
		wantErr bool
	}{
		{"nil", nil, true},
		{"15 bytes", bytes.Repeat([]byte{1}, 15), true},
		{"16 bytes", bytes.Repeat([]byte{1}, 16), false},
		{"32 bytes", []byte(testSecret), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prof, err := p.Compile(tt.secret)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Compile error = %v, want error %v", err, tt.wantErr)
			}
			if err != nil {
				if !strings.HasPrefix(err.Error(), "policy: ") || bytes.Contains([]byte(err.Error()), tt.secret) && len(tt.secret) > 0 {
					t.Errorf("error = %q", err)
				}
				return
			}
			if !bytes.Equal(prof.Secret, tt.secret) {
				t.Errorf("secret not copied in")
			}
		})
	}
}

// TestCompileIndependent checks that profiles share nothing mutable with
// the policy or each other: the engine or a caller may not alter a policy
// through a profile.
func TestCompileIndependent(t *testing.T) {
	p := mustParse(t, y(`
id: a
version: 1
rules:
  - {tag: PatientID, action: lookup, table: subjects.csv, when: {Modality: [CT, MR]}}
filters:
  - accept: {Modality: [CT]}
`))
	secret := []byte(testSecret)
	a, err := p.Compile(secret)
	if err != nil {
		t.Fatal(err)
	}
	secret[0] ^= 0xFF
	a.Secret[1] ^= 0xFF
	a.Rules[0].Table["MRN1"] = "CHANGED"
	a.Rules[0].When[0].Values[0] = "XX"
	a.Filters[0].When[0].Values[0] = "XX"
	b, err := p.Compile([]byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	if string(b.Secret) != testSecret || b.Rules[0].Table["MRN1"] != "SUBJ-1" ||
		b.Rules[0].When[0].Values[0] != "CT" || b.Filters[0].When[0].Values[0] != "CT" {
		t.Errorf("second profile altered through the first: %+v", b)
	}
}

func TestCompileRuleOrderAndSources(t *testing.T) {
	p := mustParse(t, y(`
id: a
version: 1
rules:
  - {tag: PatientID, action: keep, when: {Modality: US}}
  - tag: PatientID
    action: hash
  - {tag: '(0019,{SIEMENS MR HEADER}08)', action: remove}
`))
	prof, err := p.Compile([]byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		action anonymize.RuleAction
		source string
	}{{anonymize.ActKeep, "p.yaml:4"}, {anonymize.ActHash, "p.yaml:5"}, {anonymize.ActRemove, "p.yaml:7"}}
	if len(prof.Rules) != len(want) {
		t.Fatalf("got %d rules", len(prof.Rules))
	}
	for i, w := range want {
		if r := prof.Rules[i]; r.Action != w.action || r.Source != w.source {
			t.Errorf("rule %d = %s %s, want %s %s", i, r.Action, r.Source, w.action, w.source)
		}
	}
	if r := prof.Rules[2].Select; r.PrivateCreator != "SIEMENS MR HEADER" || r.Tag != anonymize.NewTag(0x19, 0x08) {
		t.Errorf("private selector = %+v", r)
	}
}
