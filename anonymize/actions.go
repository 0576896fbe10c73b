package anonymize

import (
	"fmt"
	"strings"
)

// resolve picks the action for e: the first matching policy rule, else the
// private-attribute rules, the repeating-group rows and Table E.1-1 under the
// options, else the engine's defaults for attributes the table does not list.
func (f *file) resolve(e *element, creator string, sc scope, overlayGone bool) (string, *Rule) {
	p := f.a.p
	t := e.tag
	for i := range p.Rules {
		r := &p.Rules[i]
		if r.Select.matches(t, creator) && f.holds(r.When) {
			return "", r
		}
	}
	if t.IsPrivate() {
		if p.Options.RetainSafePrivate && creator != "" && isSafePrivate(t.Group(), creator, uint8(t.Element())) {
			return "K", nil
		}
		return privateEntry().basic, nil
	}
	g := t.Group()
	switch {
	case g <= 0x0002 || g == 0xFFFC:
		// Command or meta elements inside a data set, trailing padding.
		return "X", nil
	case g&0xFF00 == 0x5000:
		// Curves are retired; their text and data cannot be cleaned, so
		// they go even under Clean Graphics.
		return "X", nil
	case g&0xFF00 == 0x6000:
		if overlayGone {
			return "X", nil
		}
		switch t.Element() {
		case 0x3000:
			return overlayDataEntry().action(p.Options), nil
		case 0x4000:
			return overlayCommentsEntry().action(p.Options), nil
		}
	}
	if entry, ok := lookupTable(t); ok {
		act := f.iodOverride(t, entry.action(p.Options))
		// Inside a sequence the profile dummies or cleans, an option that
		// keeps the attribute elsewhere does not keep it here.
		if act == "K" && identifyingVR(e.vr) {
			switch sc {
			case scopeDummy:
				act = "D"
			case scopeClean:
				if !isCodeAttribute(t) {
					act = "C"
				}
			}
		}
		return act, nil
	}
	switch sc {
	case scopeDummy:
		// Everything textual goes, codes included: a code can name a
		// person or an institution (Person Identification Code Sequence).
		if identifyingVR(e.vr) {
			return "D", nil
		}
	case scopeClean:
		if identifyingVR(e.vr) && !isCodeAttribute(t) {
			return "C", nil
		}
	}
	if e.vr == "UI" && !p.Options.RetainUIDs && !isClassUIDAttribute(t) && hasInstanceUID(e) {
		return "U", nil
	}
	if dictVR(t) == "" && !p.KeepUnknownPublic {
		return "X", nil
	}
	return "K", nil
}

// matches reports whether the selector picks tag t (reserved by creator
// when private).
func (s Selector) matches(t Tag, creator string) bool {
	if s.PrivateCreator != "" {
		return t.IsPrivate() && creator == s.PrivateCreator &&
			t.Group() == s.Tag.Group() && uint8(t.Element()) == uint8(s.Tag.Element()) && t.Element() > 0xFF
	}
	if s.GroupMask != 0 {
		// Repeating groups (60xx, 50xx) are even; odd groups are private.
		return !t.IsPrivate() && t.Group()&s.GroupMask == s.Tag.Group()&s.GroupMask && t.Element() == s.Tag.Element()
	}
	return t == s.Tag
}

// identifyingVR: VRs a name, identifier, free text, date or time can be in.
func identifyingVR(vr string) bool {
	switch vr {
	case "AE", "AS", "DA", "DT", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UT", "UR":
		return true
	}
	return false
}

// isCodeAttribute: parts of coded entries, kept inside dummied sequences so
// templates (SR trees, code sequences) stay valid.
func isCodeAttribute(t Tag) bool {
	switch t {
	case 0x00080100, 0x00080102, 0x00080103, 0x00080104, 0x00080105, 0x00080106,
		0x00080107, 0x0008010B, 0x0008010F, 0x00080117, 0x00080118, 0x00080119,
		0x00080120, 0x00080121, 0x00080122, 0x0040A040, 0x0040A010, 0x0040A050,
		0x0040DB00, 0x0040DB06, 0x0040DB07, 0x0040DB0B:
		return true
	}
	return false
}

// isClassUIDAttribute: UI attributes that hold class, syntax or coding
// scheme identifiers, never instance identifiers.
func isClassUIDAttribute(t Tag) bool {
	switch t {
	case 0x00020002, 0x00020010, 0x00020012, 0x00020100, 0x00041510, 0x00041512,
		0x00080016, 0x0008001A, 0x0008001B, 0x00080062, 0x0008010C, 0x0008010D,
		0x00081150, 0x0008115A, 0x00080118, 0x00400E21, 0x0040DB0C, 0x0040DB0D,
		0x00720016, 0x00081190, 0x00404036:
		return true
	}
	return false
}

// hasInstanceUID reports whether any value of a UI element is not a
// well-known DICOM UID.
func hasInstanceUID(e *element) bool {
	for _, v := range e.strs() {
		if v != "" && !isStandardUID(v) {
			return true
		}
	}
	return false
}

func isStandardUID(v string) bool { return strings.HasPrefix(v, "1.2.840.10008.") }

// apply returns the new element for e under act (or rule), nil to remove.
func (f *file) apply(e *element, act string, rule *Rule, sc scope, path string, depth int) (*element, error) {
	if rule != nil {
		return f.applyRule(e, rule, sc, path, depth)
	}
	switch act {
	case "K":
		if e.vr == "SQ" {
			return f.items(e, sc, path, depth)
		}
		return e, nil
	case "X":
		return nil, nil
	case "Z":
		return emptied(e), nil
	case "X/Z":
		if e.vr == "SQ" {
			// An empty sequence is invalid where the sequence is Type 1 or
			// Type 3; items with every identifying value dummied and UIDs
			// replaced are valid everywhere and leak nothing.
			return f.items(e, scopeDummy, path, depth)
		}
		return emptied(e), nil
	case "D", "Z/D", "X/D", "X/Z/D":
		return f.dummy(e, path, depth)
	case "U":
		return f.replaceUIDs(e), nil
	case "X/Z/U*":
		switch e.vr {
		case "SQ":
			return f.items(e, sc, path, depth)
		case "UI":
			return f.keptOrReplacedUIDs(e), nil
		}
		return emptied(e), nil
	case "C":
		return f.clean(e, path, depth)
	}
	return nil, quarantine(ErrUnsupported, "no handling for action %q on %s", act, e.tag)
}

// items processes the items of a sequence in scope sc.
func (f *file) items(e *element, sc scope, path string, depth int) (*element, error) {
	ne := &element{tag: e.tag, vr: "SQ", items: make([]*dataset, 0, len(e.items))}
	base := joinPath(path, e.tag)
	for i, item := range e.items {
		out, err := f.process(item, sc, fmt.Sprintf("%s[%d]", base, i), depth+1)
		if err != nil {
			return nil, err
		}
		ne.items = append(ne.items, out)
	}
	return ne, nil
}

func emptied(e *element) *element {
	return &element{tag: e.tag, vr: e.vr}
}

func withString(e *element, v string) *element {
	if m := maxLen(e.vr); m > 0 && len(v) > m {
		v = v[:m]
	}
	return &element{tag: e.tag, vr: e.vr, value: []byte(v)}
}

// Dummy values (PS3.15 action D): non-empty and valid for the VR.
const dummyText = "ANONYMIZED"

// dummyPDF replaces an encapsulated document: an empty but well-formed PDF.
var dummyPDF = []byte("%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj 2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")

func (f *file) dummy(e *element, path string, depth int) (*element, error) {
	switch e.tag {
	case tagPatientID:
		orig := e.str()
		v := f.a.ps.hash(f.patientPrefix(), orig, 64)
		if f.a.rec != nil {
			f.a.rec.RecordPatientID(orig, v)
		}
		return withString(e, v), nil
	case tagEncapsulatedDocument:
		return f.encapsulatedDocument(e), nil
	}
	switch e.vr {
	case "SQ":
		return f.items(e, scopeDummy, path, depth)
	case "DA":
		return f.shiftedDate(e, shiftDate(e.str(), f.shift)), nil
	case "DT":
		// The date is shifted like every other date of the patient; the
		// time of day is not kept.
		return f.shiftedDate(e, shiftDateOnly(e.str(), f.shift)), nil
	case "TM":
		return withString(e, "000000"), nil
	case "AS":
		return withString(e, "000Y"), nil
	case "DS", "IS":
		return withString(e, "0"), nil
	case "UI":
		return f.keptOrReplacedUIDs(e), nil
	case "UR":
		return withString(e, "urn:x-anonymized"), nil
	case "AE", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UT":
		return withString(e, dummyText), nil
	case "US", "SS":
		return &element{tag: e.tag, vr: e.vr, value: make([]byte, 2)}, nil
	case "UL", "SL", "FL", "AT":
		return &element{tag: e.tag, vr: e.vr, value: make([]byte, 4)}, nil
	case "FD", "SV", "UV":
		return &element{tag: e.tag, vr: e.vr, value: make([]byte, 8)}, nil
	}
	return &element{tag: e.tag, vr: e.vr, value: make([]byte, 2)}, nil
}

func (f *file) patientPrefix() string {
	if f.a.p.PatientIDPrefix != "" {
		return f.a.p.PatientIDPrefix
	}
	return "ANON-"
}

// keptOrReplacedUIDs is replaceUIDs except under Retain UIDs, which keeps
// UIDs wherever they are (inside dummied or cleaned sequences too):
// replacing some copies of a kept UID would break references.
func (f *file) keptOrReplacedUIDs(e *element) *element {
	if f.a.p.Options.RetainUIDs {
		return e
	}
	return f.replaceUIDs(e)
}

// replaceUIDs maps every instance UID value of e to its keyed replacement.
func (f *file) replaceUIDs(e *element) *element {
	if e.vr != "UI" {
		if len(e.value) == 0 {
			return e
		}
		return emptied(e)
	}
	vals := e.strs()
	for i, v := range vals {
		if v == "" || isStandardUID(v) {
			continue
		}
		n := f.a.ps.uid(v)
		if f.a.rec != nil {
			f.a.rec.RecordUID(v, n)
		}
		vals[i] = n
	}
	return &element{tag: e.tag, vr: "UI", value: []byte(strings.Join(vals, `\`))}
}

// clean keeps what an option retains after removing identifying content:
// dates are shifted, sequences cleaned recursively, free text scrubbed of the
// identifying values found in the same file; binary values that cannot be
// cleaned (overlay bitmaps) are removed.
func (f *file) clean(e *element, path string, depth int) (*element, error) {
	o := f.a.p.Options
	switch e.vr {
	case "SQ":
		return f.items(e, scopeClean, path, depth)
	case "DA":
		if o.RetainLongitudinalFullDates {
			return e, nil
		}
		return f.shiftedDate(e, shiftDate(e.str(), f.shift)), nil
	case "DT":
		if o.RetainLongitudinalFullDates {
			return e, nil
		}
		return f.shiftedDate(e, shiftDateTime(e.str(), f.shift, f.timeShift)), nil
	case "TM":
		if o.RetainLongitudinalFullDates {
			return e, nil
		}
		return withString(e, shiftTime(e.str(), f.timeShift)), nil
	case "UI":
		if o.RetainUIDs {
			return e, nil
		}
		return f.replaceUIDs(e), nil
	case "AE", "LO", "LT", "PN", "SH", "ST", "UC", "UT", "UR":
		if e.tag == tagTimezoneOffset {
			// Times are modified; a zero offset keeps them consistent.
			return withString(e, "+0000"), nil
		}
		if e.vr == "PN" || !f.scrubbable(e.tag) {
			// A person name cannot be cleaned into something useful, and
			// free text outside the Clean Descriptors and Clean Structured
			// Content options (allergies, patient state...) has no
			// identifier list to clean against: it is replaced.
			return withString(e, dummyText), nil
		}
		if f.scrub == nil {
			f.scrub = f.newScrubber()
		}
		return withString(e, f.scrub.cleanText(string(e.value))), nil
	case "CS", "DS", "IS", "AS", "US", "SS", "UL", "SL", "FL", "FD", "AT", "SV", "UV":
		return e, nil
	}
	return nil, nil
}

// scrubbable reports whether free text of t is kept and cleaned under the
// options (Clean Descriptors, Clean Structured Content, Clean Graphics, or
// inside a sequence those options clean).
func (f *file) scrubbable(t Tag) bool {
	o := f.a.p.Options
	entry, ok := lookupTable(t)
	if !ok {
		return o.CleanStructuredContent || o.CleanDescriptors
	}
	return o.CleanDescriptors && entry.descriptors == 'C' ||
		o.CleanStructuredContent && entry.structured == 'C' ||
		o.CleanGraphics && entry.graphics == 'C'
}

// applyRule applies a policy rule to e.
func (f *file) applyRule(e *element, r *Rule, sc scope, path string, depth int) (*element, error) {
	switch r.Action {
	case ActKeep, "K":
		if e.vr == "SQ" {
			return f.items(e, sc, path, depth)
		}
		return e, nil
	case ActRemove, "X":
		return nil, nil
	case ActEmpty, "Z":
		return emptied(e), nil
	case ActDummy, "D":
		return f.dummy(e, path, depth)
	case ActUID, "U":
		return f.replaceUIDs(e), nil
	case ActClean, "C":
		return f.clean(e, path, depth)
	case ActReject:
		return nil, quarantine(ErrRejected, "rule %s rejects files with %s", ruleName(r), e.tag)
	}
	if !isStringVR(e.vr) && e.vr != "UN" {
		// UN: a private attribute read with implicit VR; its value is text
		// when a rule treats it as text.
		return nil, quarantine(ErrUnsupported, "rule %s: action %s cannot apply to %s (VR %s)", ruleName(r), r.Action, e.tag, e.vr)
	}
	orig := e.str()
	var v string
	switch r.Action {
	case ActReplace:
		v = r.Value
	case ActHash:
		v = f.a.ps.hash(r.Value, orig, maxLen(e.vr))
	case ActLookup:
		nv, ok := r.Table[orig]
		switch {
		case ok:
			v = nv
		case r.Missing == MissHash:
			v = f.a.ps.hash(f.patientPrefix(), orig, maxLen(e.vr))
		case r.Missing == MissEmpty:
			return emptied(e), nil
		default:
			return nil, quarantine(ErrRejected, "rule %s: value of %s is not in the lookup table", ruleName(r), e.tag)
		}
	case ActDateShift:
		days := f.shift
		if r.ShiftDays != 0 {
			days = r.ShiftDays
		}
		switch e.vr {
		case "DA":
			return f.shiftedDate(e, shiftDate(orig, days)), nil
		case "DT":
			return f.shiftedDate(e, shiftDateTime(orig, days, 0)), nil
		default:
			return nil, quarantine(ErrUnsupported, "rule %s: date shift on %s (VR %s)", ruleName(r), e.tag, e.vr)
		}
	case ActRegex:
		v = r.Regex.ReplaceAllString(orig, r.Value)
	default:
		return nil, quarantine(ErrUnsupported, "rule %s: unknown action %q", ruleName(r), r.Action)
	}
	if e.tag == tagPatientID && f.a.rec != nil {
		f.a.rec.RecordPatientID(orig, v)
	}
	return withString(e, v), nil
}

func ruleName(r *Rule) string {
	if r.Source != "" {
		return r.Source
	}
	return "(unnamed)"
}

// actionName is the report's name for an action.
func actionName(act string, r *Rule) string {
	if r != nil {
		return string(r.Action)
	}
	return act
}

// methodCode is a CID 7050 de-identification method code.
type methodCode struct{ value, meaning string }

func methodCodes(o Options) []methodCode {
	codes := []methodCode{{"113100", "Basic Application Confidentiality Profile"}}
	add := func(on bool, v, m string) {
		if on {
			codes = append(codes, methodCode{v, m})
		}
	}
	add(o.CleanGraphics, "113103", "Clean Graphics Option")
	add(o.CleanStructuredContent, "113104", "Clean Structured Content Option")
	add(o.CleanDescriptors, "113105", "Clean Descriptors Option")
	add(o.RetainLongitudinalFullDates, "113106", "Retain Longitudinal Temporal Information Full Dates Option")
	add(o.RetainLongitudinalModifiedDates, "113107", "Retain Longitudinal Temporal Information Modified Dates Option")
	add(o.RetainPatientCharacteristics, "113108", "Retain Patient Characteristics Option")
	add(o.RetainDeviceIdentity, "113109", "Retain Device Identity Option")
	add(o.RetainUIDs, "113110", "Retain UIDs Option")
	add(o.RetainSafePrivate, "113111", "Retain Safe Private Option")
	add(o.RetainInstitutionIdentity, "113112", "Retain Institution Identity Option")
	return codes
}

// stamp writes the de-identification attributes into the output.
func (f *file) stamp(out *dataset) {
	p := f.a.p
	out.set(&element{tag: tagPatientIdentityRemoved, vr: "CS", value: []byte("YES")})
	method := "DICOMGATE PS3.15 E.1 BASIC PROFILE"
	if p.ID != "" {
		pol := "POLICY " + p.ID
		if p.Version != "" {
			pol += " V" + p.Version
		}
		if len(pol) > 64 {
			pol = pol[:64]
		}
		method += `\` + pol
	}
	out.set(&element{tag: tagDeidentMethod, vr: "LO", value: []byte(method)})
	seq := &element{tag: tagDeidentMethodCodeSeq, vr: "SQ"}
	for _, c := range f.methodCodes() {
		seq.items = append(seq.items, &dataset{elems: []*element{
			{tag: tagCodeValue, vr: "SH", value: []byte(c.value)},
			{tag: tagCodingSchemeDesignator, vr: "SH", value: []byte("DCM")},
			{tag: tagCodeMeaning, vr: "LO", value: []byte(c.meaning)},
		}})
	}
	out.set(seq)
	lt := "REMOVED"
	switch {
	case p.Options.RetainLongitudinalFullDates:
		lt = "UNMODIFIED"
	case p.Options.RetainLongitudinalModifiedDates:
		lt = "MODIFIED"
	}
	out.set(&element{tag: tagLongitudinalModified, vr: "CS", value: []byte(lt)})
	f.stampPixels(out)
}
