package anonymize

import (
	"sort"
)

// Report describes what the engine did to one file. It never contains an
// original value: only pseudonymous identifiers, codes and counts, so it can
// go into manifests and the audit trail.
type Report struct {
	PolicyID      string `json:"policy_id,omitempty"`
	PolicyVersion string `json:"policy_version,omitempty"`
	PolicyHash    string `json:"policy_hash,omitempty"`
	// Options lists the PS3.15 options applied (CID 7050 code values).
	Options []string `json:"options,omitempty"`
	// TransferSyntax of the output (the same as the input's).
	TransferSyntax string `json:"transfer_syntax"`
	SOPClassUID    string `json:"sop_class_uid"`
	Modality       string `json:"modality,omitempty"`
	// Pseudonymous identifiers as written to the output.
	StudyInstanceUID  string `json:"study_instance_uid,omitempty"`
	SeriesInstanceUID string `json:"series_instance_uid,omitempty"`
	SOPInstanceUID    string `json:"sop_instance_uid"`
	PatientID         string `json:"patient_id,omitempty"`
	// Actions counts attributes per action code (K, X, Z, D, U, C and the
	// policy actions).
	Actions map[string]int `json:"actions"`
	// Tags counts actions per attribute, keyed "(gggg,eeee)" (private ones as
	// "(gggg,{creator}ee)"), sorted by tag.
	Tags []TagActions `json:"tags"`
	// PixelBytes is the size of the pixel data element as written (header,
	// value and fragment items): streamed through unchanged unless PixelRule
	// is set.
	PixelBytes int64 `json:"pixel_bytes"`
	// PixelRule names the pixel rule whose regions were blanked (Clean
	// Pixel Data); empty when the pixels passed through unchanged.
	PixelRule string `json:"pixel_rule,omitempty"`
	// DatesEmptied counts shifted dates emptied because the shifted value
	// was another original date of the same file.
	DatesEmptied int `json:"dates_emptied,omitempty"`
}

// TagActions is the count of each action applied to one attribute.
type TagActions struct {
	Tag     string         `json:"tag"`
	Keyword string         `json:"keyword,omitempty"`
	Actions map[string]int `json:"actions"`
}

// tally accumulates a report's counts.
type tally struct {
	actions map[string]int
	tags    map[string]map[string]int
	kw      map[string]string
}

func newTally() *tally {
	return &tally{actions: map[string]int{}, tags: map[string]map[string]int{}, kw: map[string]string{}}
}

func (t *tally) add(key, keyword, action string) {
	t.actions[action]++
	m := t.tags[key]
	if m == nil {
		m = map[string]int{}
		t.tags[key] = m
		if keyword != "" {
			t.kw[key] = keyword
		}
	}
	m[action]++
}

func (t *tally) fill(r *Report) {
	r.Actions = t.actions
	r.Tags = make([]TagActions, 0, len(t.tags))
	for k, m := range t.tags {
		r.Tags = append(r.Tags, TagActions{Tag: k, Keyword: t.kw[k], Actions: m})
	}
	sort.Slice(r.Tags, func(i, j int) bool { return r.Tags[i].Tag < r.Tags[j].Tag })
}
