package policy

import (
	"slices"
	"testing"

	"dicomgate/anonymize"
)

func TestOptionNames(t *testing.T) {
	all := anonymize.Options{
		RetainSafePrivate: true, RetainUIDs: true, RetainDeviceIdentity: true, RetainInstitutionIdentity: true,
		RetainPatientCharacteristics: true, RetainLongitudinalFullDates: true, RetainLongitudinalModifiedDates: true,
		CleanDescriptors: true, CleanStructuredContent: true, CleanGraphics: true,
	}
	tests := []struct {
		name string
		opts anonymize.Options
		want []string
	}{
		{"none", anonymize.Options{}, []string{}},
		{"uids", anonymize.Options{RetainUIDs: true}, []string{"retain-uids"}},
		{"order", anonymize.Options{CleanGraphics: true, RetainSafePrivate: true, RetainLongitudinalModifiedDates: true},
			[]string{"retain-safe-private", "retain-long-modified-dates", "clean-graphics"}},
		{"all", all, []string{"retain-safe-private", "retain-uids", "retain-device-id", "retain-institution-id",
			"retain-patient-chars", "retain-long-full-dates", "retain-long-modified-dates", "clean-descriptors",
			"clean-structured-content", "clean-graphics"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := OptionNames(tt.opts)
			if got == nil || !slices.Equal(got, tt.want) {
				t.Errorf("OptionNames = %q, want %q", got, tt.want)
			}
			if tt.name == "all" {
				return // both date options together do not parse back
			}
			back, err := ParseOptions(got)
			if err != nil || back != tt.opts {
				t.Errorf("ParseOptions(%q) = %+v, %v", got, back, err)
			}
		})
	}
}

func TestParseOptionsErrors(t *testing.T) {
	for _, names := range [][]string{
		{"retain-uid"},
		{"retain-uids", "retain-uids"},
		{"retain-long-full-dates", "retain-long-modified-dates"},
	} {
		if _, err := ParseOptions(names); err == nil {
			t.Errorf("ParseOptions(%q) succeeded", names)
		}
	}
}
