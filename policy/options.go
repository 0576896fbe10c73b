package policy

import (
	"fmt"

	"dicomgate/anonymize"
)

// Option names as written in policy files, in the order OptionNames lists
// them. They are also the names the external checker's --options takes.
const (
	OptRetainSafePrivate       = "retain-safe-private"
	OptRetainUIDs              = "retain-uids"
	OptRetainDeviceID          = "retain-device-id"
	OptRetainInstitutionID     = "retain-institution-id"
	OptRetainPatientChars      = "retain-patient-chars"
	OptRetainLongFullDates     = "retain-long-full-dates"
	OptRetainLongModifiedDates = "retain-long-modified-dates"
	OptCleanDescriptors        = "clean-descriptors"
	OptCleanStructuredContent  = "clean-structured-content"
	OptCleanGraphics           = "clean-graphics"
)

// optionDef ties an option name to its field in anonymize.Options.
type optionDef struct {
	name  string
	field func(*anonymize.Options) *bool
}

// optionDefs returns the PS3.15 options in their canonical order.
func optionDefs() []optionDef {
	return []optionDef{
		{OptRetainSafePrivate, func(o *anonymize.Options) *bool { return &o.RetainSafePrivate }},
		{OptRetainUIDs, func(o *anonymize.Options) *bool { return &o.RetainUIDs }},
		{OptRetainDeviceID, func(o *anonymize.Options) *bool { return &o.RetainDeviceIdentity }},
		{OptRetainInstitutionID, func(o *anonymize.Options) *bool { return &o.RetainInstitutionIdentity }},
		{OptRetainPatientChars, func(o *anonymize.Options) *bool { return &o.RetainPatientCharacteristics }},
		{OptRetainLongFullDates, func(o *anonymize.Options) *bool { return &o.RetainLongitudinalFullDates }},
		{OptRetainLongModifiedDates, func(o *anonymize.Options) *bool { return &o.RetainLongitudinalModifiedDates }},
		{OptCleanDescriptors, func(o *anonymize.Options) *bool { return &o.CleanDescriptors }},
		{OptCleanStructuredContent, func(o *anonymize.Options) *bool { return &o.CleanStructuredContent }},
		{OptCleanGraphics, func(o *anonymize.Options) *bool { return &o.CleanGraphics }},
	}
}

// optionNameList returns every option name, for messages.
func optionNameList() []string {
	defs := optionDefs()
	names := make([]string, len(defs))
	for i, d := range defs {
		names[i] = d.name
	}
	return names
}

// OptionNames returns the names of the options set in o, in canonical order
// (retain-safe-private first, clean-graphics last). It returns an empty,
// non-nil slice for the Basic Profile with no option.
func OptionNames(o anonymize.Options) []string {
	names := []string{}
	for _, d := range optionDefs() {
		if *d.field(&o) {
			names = append(names, d.name)
		}
	}
	return names
}

// ParseOptions is the inverse of [OptionNames]: it sets the named options.
// Unknown names, repeated names, and both longitudinal date options
// together are errors.
func ParseOptions(names []string) (anonymize.Options, error) {
	var o anonymize.Options
	for _, n := range names {
		b := optionField(&o, n)
		if b == nil {
			return anonymize.Options{}, fmt.Errorf("policy: unknown option %q", n)
		}
		if *b {
			return anonymize.Options{}, fmt.Errorf("policy: option %s given twice", n)
		}
		*b = true
	}
	if o.RetainLongitudinalFullDates && o.RetainLongitudinalModifiedDates {
		return anonymize.Options{}, fmt.Errorf("policy: options %s and %s exclude each other",
			OptRetainLongFullDates, OptRetainLongModifiedDates)
	}
	return o, nil
}

// optionField returns the field of o named name, or nil when unknown.
func optionField(o *anonymize.Options, name string) *bool {
	for _, d := range optionDefs() {
		if d.name == name {
			return d.field(o)
		}
	}
	return nil
}
