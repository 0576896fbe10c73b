package policy

import (
	"strings"
	"testing"
)

// hashBase is the reference policy for the hash tests.
const hashBase = `
# reference policy
id: trial-abc
version: 3
description: A trial.
options: [retain-safe-private, retain-long-modified-dates]
rules:
  - tag: PatientID
    action: lookup
    table: subjects.csv
    missing: hash
  - tag: StudyDescription
    action: regex
    pattern: '(?i)\bdr\.? [a-z]+'
    value: '[removed]'
  - tag: InstitutionName
    action: replace
    value: SITE 01
    when: {Modality: US, Manufacturer: {matches: '(?i)acme'}}
filters:
  - reject: {Modality: [SR, KO]}
    reason: no reports
recipients: [key-a, key-b]
`

// hashOf parses src with the given subjects.csv content and returns its hash.
func hashOf(t *testing.T, src, csv string) string {
	t.Helper()
	dir := writeDir(t, map[string]string{"subjects.csv": csv, "other.csv": csv})
	p, err := Parse("p.yaml", []byte(src), dir)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return p.Hash()
}

func TestHashStable(t *testing.T) {
	base := hashOf(t, hashBase, subjectsCSV)
	tests := []struct {
		name string
		src  string
		csv  string
	}{
		{"comments and blank lines", strings.ReplaceAll(hashBase, "\n  - tag:", "\n\n  # a rule\n  - tag:"), subjectsCSV},
		{"flow style, reordered keys, quoting, letters, numeric tags, explicit defaults", `
{version: 3, id: "trial-abc", description: "  A trial.\n", profile: basic,
 options: [retain-long-modified-dates, retain-safe-private],
 burned_in_annotation: quarantine, unknown_public: remove, date_shift: {max_days: 3650}, patient_id_prefix: ANON-,
 recipients: [key-b, key-a],
 filters: [{reason: no reports, reject: {'(0008,0060)': {in: [KO, SR]}}}],
 rules: [
  {missing: hash, table: subjects.csv, action: lookup, tag: '(0010,0020)', key_column: id_old, value_column: id_new},
  {tag: '0008,1030', action: regex, value: '[removed]', pattern: "(?i)\\bdr\\.? [a-z]+"},
  {tag: InstitutionName, action: replace, value: SITE 01, when: {Manufacturer: {matches: '(?i)acme'}, Modality: {equals: US}}}]}
`, subjectsCSV},
		{"table file renamed", strings.Replace(hashBase, "subjects.csv", "other.csv", 1), subjectsCSV},
		{"table rows reordered, padded, other columns", hashBase, "note,id_new,id_old\nx,SUBJ-2 , MRN2\ny,SUBJ-1,MRN1\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := hashOf(t, tt.src, tt.csv); got != base {
				t.Errorf("hash changed: %s != %s", got, base)
			}
		})
	}
}

func TestHashChanges(t *testing.T) {
	base := hashOf(t, hashBase, subjectsCSV)
	edit := func(old, new string) string {
		if !strings.Contains(hashBase, old) {
			t.Fatalf("base has no %q", old)
		}
		return strings.Replace(hashBase, old, new, 1)
	}
	tests := []struct {
		name string
		src  string
		csv  string
	}{
		{"id", edit("id: trial-abc", "id: trial-abd"), subjectsCSV},
		{"version", edit("version: 3", "version: 4"), subjectsCSV},
		{"description", edit("A trial.", "A trial!"), subjectsCSV},
		{"option removed", edit("retain-safe-private, ", ""), subjectsCSV},
		{"option added", edit("retain-safe-private,", "retain-safe-private, retain-uids,"), subjectsCSV},
		{"burned in", hashBase + "burned_in_annotation: allow\n", subjectsCSV},
		{"unknown public", hashBase + "unknown_public: keep\n", subjectsCSV},
		{"max days", hashBase + "date_shift: {max_days: 10}\n", subjectsCSV},
		{"prefix", hashBase + "patient_id_prefix: X-\n", subjectsCSV},
		{"missing action", edit("missing: hash", "missing: empty"), subjectsCSV},
		{"pattern", edit(`[a-z]+`, `[a-z]*`), subjectsCSV},
		{"replacement", edit("[removed]", "[x]"), subjectsCSV},
		{"rule value", edit("SITE 01", "SITE 02"), subjectsCSV},
		{"condition", edit("Modality: US,", "Modality: MR,"), subjectsCSV},
		{"filter values", edit("[SR, KO]", "[SR]"), subjectsCSV},
		{"filter reason", edit("no reports", "no SR"), subjectsCSV},
		{"recipient", edit("key-b", "key-c"), subjectsCSV},
		{"rule order", strings.Replace(edit("  - tag: PatientID\n    action: lookup\n    table: subjects.csv\n    missing: hash\n", ""),
			"filters:", "  - tag: PatientID\n    action: lookup\n    table: subjects.csv\n    missing: hash\nfilters:", 1), subjectsCSV},
		{"table value changed", hashBase, "id_old,id_new\nMRN1,SUBJ-1\nMRN2,SUBJ-3\n"},
		{"table row added", hashBase, subjectsCSV + "MRN3,SUBJ-3\n"},
		{"table key changed", hashBase, "id_old,id_new\nMRN1,SUBJ-1\nMRN9,SUBJ-2\n"},
	}
	seen := map[string]string{base: "base"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := hashOf(t, tt.src, tt.csv)
			if prev, dup := seen[got]; dup {
				t.Errorf("same hash as %s", prev)
			}
			seen[got] = tt.name
		})
	}
}

func TestCanonicalHidesTable(t *testing.T) {
	p := mustParse(t, "id: a\nversion: 1\nrules:\n  - {tag: PatientID, action: lookup, table: subjects.csv}\n")
	c := string(p.Canonical())
	for _, s := range []string{"MRN1", "SUBJ-1", "subjects.csv"} {
		if strings.Contains(c, s) {
			t.Errorf("canonical form contains %q: %s", s, c)
		}
	}
	if !strings.Contains(c, `"table_sha256":"`) || !strings.Contains(c, `"tag":"(0010,0020)"`) {
		t.Errorf("canonical form = %s", c)
	}
	if hashHex(p.Canonical()) != p.Hash() {
		t.Error("Hash is not the SHA-256 of Canonical")
	}
}
