package anonymize

import "fmt"

//go:generate go run ./internal/gentable -table ../../shared/ps3.15-e1-1/confidentiality_profile_attributes.json -safe ../../shared/ps3.15-e1-1/safe_private.tsv -out table_gen.go

// tableEntry is one row of PS3.15 Table E.1-1: the Basic Profile action and,
// per option column, the action that replaces it (0 when the cell is empty).
type tableEntry struct {
	basic         string
	safePrivate   byte
	uids          byte
	device        byte
	institution   byte
	patient       byte
	fullDates     byte
	modifiedDates byte
	descriptors   byte
	structured    byte
	graphics      byte
}

// action is the effective action code of the row under the options: the
// first option column with a cell wins, else the Basic Profile code.
func (e tableEntry) action(o Options) string {
	cols := []struct {
		on   bool
		code byte
	}{
		{o.RetainUIDs, e.uids},
		{o.RetainDeviceIdentity, e.device},
		{o.RetainInstitutionIdentity, e.institution},
		{o.RetainPatientCharacteristics, e.patient},
		{o.RetainLongitudinalFullDates, e.fullDates},
		{o.RetainLongitudinalModifiedDates, e.modifiedDates},
		{o.CleanDescriptors, e.descriptors},
		{o.CleanStructuredContent, e.structured},
		{o.CleanGraphics, e.graphics},
		{o.RetainSafePrivate, e.safePrivate},
	}
	for _, c := range cols {
		if c.on && c.code != 0 {
			return string(c.code)
		}
	}
	return e.basic
}

func safePrivateKey(group uint16, creator string, elem uint8) string {
	return fmt.Sprintf("%04X|%s|%02X", group, creator, elem)
}
