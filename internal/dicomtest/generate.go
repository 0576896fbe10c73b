package dicomtest

import "strings"

//go:generate go run ./internal/gentable -in ../../../shared/ps3.15-e1-1/confidentiality_profile_attributes.json -out profile_table.go

// Option is a set of PS3.15 Annex E profile options.
type Option uint16

// The profile options of Table E.1-1. A [Planted] value lists the options
// under which an anonymiser may keep (or only clean) it.
const (
	OptRetainSafePrivate Option = 1 << iota
	OptRetainUIDs
	OptRetainDeviceIdentity
	OptRetainInstitutionIdentity
	OptRetainPatientCharacteristics
	OptRetainLongitudinalFullDates
	OptRetainLongitudinalModifiedDates
	OptCleanDescriptors
	OptCleanStructuredContent
	OptCleanGraphics
)

// optionNames maps each option bit, in order, to its name.
func optionNames() []string {
	return []string{
		"RetainSafePrivate", "RetainUIDs", "RetainDeviceIdentity",
		"RetainInstitutionIdentity", "RetainPatientCharacteristics",
		"RetainLongitudinalFullDates", "RetainLongitudinalModifiedDates",
		"CleanDescriptors", "CleanStructuredContent", "CleanGraphics",
	}
}

// Names returns the names of the options in o, e.g. "RetainUIDs".
func (o Option) Names() []string {
	var out []string
	for i, n := range optionNames() {
		if o&(1<<i) != 0 {
			out = append(out, n)
		}
	}
	return out
}

// String joins the option names with '|'.
func (o Option) String() string { return strings.Join(o.Names(), "|") }

// profileAttr is one row of Table E.1-1.
type profileAttr struct {
	tag     uint32
	vr      string
	keyword string
	action  string // Basic Profile action: X, Z, D, U, X/Z, ...
	opts    Option
}
