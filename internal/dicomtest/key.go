package dicomtest

import (
	"encoding/json"
	"fmt"
	"slices"
)

// Classes of planted values ([Planted.Class]).
const (
	ClassName    = "NAME"  // person names
	ClassID      = "ID"    // patient, accession, study and other identifiers
	ClassDate    = "DATE"  // DA and the date part of DT
	ClassTime    = "TIME"  // TM
	ClassUID     = "UID"   // UIDs the profile replaces
	ClassAddress = "ADDR"  // postal addresses
	ClassPhone   = "PHONE" // telephone numbers
	ClassInst    = "INST"  // institution names and departments
	ClassDevice  = "DEV"   // station names, serial numbers, device identity
	ClassDesc    = "DESC"  // descriptions, comments and free text
	ClassPrivate = "PRIV"  // values in private elements
	ClassCode    = "CODE"  // coded values
	ClassNumber  = "NUM"   // numbers (weights, sizes, ages)
	ClassOther   = "OTHER" // everything else
)

// Planted is one identifier planted in the corpus, at one attribute path.
// The same value may be planted at several paths; each is its own Planted.
type Planted struct {
	// Value is the planted text, as written (before padding).
	Value string `json:"value"`
	// Class groups values by kind, one of the Class constants.
	Class string `json:"class"`
	// Path names the attribute, e.g.
	// "RequestAttributesSequence[0].ReferencedStudySequence[0].ReferencedSOPInstanceUID";
	// private and unknown tags are written "(0009,1001)".
	Path string `json:"path"`
	// Tags is the tag path (group<<16 | element), without item indexes.
	Tags []uint32 `json:"tags"`
	// Files lists the corpus files ([File.Name]) that carry the value at Path.
	Files []string `json:"files"`
	// InProfile reports that an anonymiser applying the Basic Profile with no
	// option must remove or replace the value: the attribute, or a sequence
	// holding it, is in Table E.1-1, or is private, overlay, curve or file
	// meta identity.
	InProfile bool `json:"in_profile"`
	// Searchable reports that the value is long and distinctive enough for a
	// byte search (not "F" or "047Y").
	Searchable bool `json:"searchable"`
	// Options lists the profile options under which the value may survive
	// (kept or only cleaned), taken from the attribute's row and the rows of
	// the sequences that hold it.
	Options Option `json:"options"`
}

// FileInfo describes one generated file.
type FileInfo struct {
	// Path is the file's name relative to the corpus root, '/'-separated.
	Path string `json:"path"`
	// Patient is the patient's index in the corpus, from 0.
	Patient int `json:"patient"`
	// Modality is the series' modality: CT, MR, US, OT, SR, PR or DOC.
	Modality string `json:"modality"`
	// SOPClassUID is one of the *Storage constants.
	SOPClassUID string `json:"sop_class_uid"`
	// SOPInstanceUID, SeriesInstanceUID and StudyInstanceUID are the
	// original (planted) UIDs of the file.
	SOPInstanceUID    string `json:"sop_instance_uid"`
	SeriesInstanceUID string `json:"series_instance_uid"`
	StudyInstanceUID  string `json:"study_instance_uid"`
	// TransferSyntax is the UID of the data set's transfer syntax.
	TransferSyntax string `json:"transfer_syntax"`
}

// Key is the answer key of a corpus: its files and every planted value.
type Key struct {
	// Seed is the generator's seed.
	Seed uint64 `json:"seed"`
	// Files describes the files in generation order.
	Files []FileInfo `json:"files"`
	// Values lists every planted value, one entry per value and path.
	Values []Planted `json:"values"`

	index map[string]int // value + "\x00" + path → position in Values
}

// add merges the values planted in one file into the key.
func (k *Key) add(file string, recs []Planted) {
	if k.index == nil {
		k.index = map[string]int{}
	}
	for _, r := range recs {
		id := r.Value + "\x00" + r.Path
		if i, ok := k.index[id]; ok {
			k.Values[i].Files = append(k.Values[i].Files, file)
			continue
		}
		r.Files = []string{file}
		k.index[id] = len(k.Values)
		k.Values = append(k.Values, r)
	}
}

// MustGo returns the values a Basic Profile anonymiser must remove and a
// byte search can find: InProfile and Searchable.
func (k *Key) MustGo() []Planted {
	var out []Planted
	for _, p := range k.Values {
		if p.InProfile && p.Searchable {
			out = append(out, p)
		}
	}
	return out
}

// Filter returns the planted values for which keep returns true.
func (k *Key) Filter(keep func(Planted) bool) []Planted {
	return slices.DeleteFunc(slices.Clone(k.Values), func(p Planted) bool { return !keep(p) })
}

// ByFile returns the planted values carried by the named file.
func (k *Key) ByFile(name string) []Planted {
	var out []Planted
	for _, p := range k.Values {
		for _, f := range p.Files {
			if f == name {
				out = append(out, p)
				break
			}
		}
	}
	return out
}

// MarshalJSON writes the option names, e.g. ["RetainUIDs"].
func (o Option) MarshalJSON() ([]byte, error) {
	names := o.Names()
	if names == nil {
		names = []string{}
	}
	return json.Marshal(names)
}

// UnmarshalJSON reads the form MarshalJSON writes.
func (o *Option) UnmarshalJSON(b []byte) error {
	var names []string
	if err := json.Unmarshal(b, &names); err != nil {
		return fmt.Errorf("dicomtest: options: %w", err)
	}
	*o = 0
	all := optionNames()
	for _, n := range names {
		found := false
		for j, a := range all {
			if a == n {
				*o |= 1 << j
				found = true
			}
		}
		if !found {
			return fmt.Errorf("dicomtest: unknown option %q", n)
		}
	}
	return nil
}
