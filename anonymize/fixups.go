package anonymize

// IOD conformance. Table E.1-1 is written per attribute, not per IOD, and a
// few of its removals break an IOD that needs the attribute. The engine
// keeps such outputs valid without keeping any identifying value: it empties
// (Z) or dummies (D) instead of removing, and drops attributes whose
// condition no longer holds.

// iodOverride adjusts the table's action for attributes an IOD requires.
func (f *file) iodOverride(t Tag, act string) string {
	if act != "X" {
		return act
	}
	switch t {
	case 0x00700082, 0x00700083:
		// Presentation Creation Date and Time: Type 1 in Presentation
		// State Identification. Dates get the per-patient shifted value.
		return "D"
	case 0x00102297, 0x00102299:
		// Responsible Person and Responsible Organization: Type 2C when
		// the patient is an animal.
		if f.top.find(0x00102201) != nil || f.top.find(0x00102202) != nil {
			return "Z"
		}
	}
	return act
}

// fixup removes attributes whose condition no longer holds after
// anonymisation.
func fixup(ds *dataset) {
	// Responsible Person Role is Type 1C: only with a Responsible Person
	// that has a value.
	if rp := ds.find(0x00102297); rp == nil || len(rp.value) == 0 {
		ds.remove(0x00102298)
	}
}
