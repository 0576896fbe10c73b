package anonymize

import (
	"regexp"
)

// Options are the option columns of PS3.15 Table E.1-1. The zero value is the
// Basic Application Level Confidentiality Profile with no option.
type Options struct {
	// RetainSafePrivate keeps private attributes listed in Table E.3.10-1
	// (keyed by private creator and element offset). Default: off.
	RetainSafePrivate bool `json:"retain_safe_private,omitempty"`
	// RetainUIDs keeps UIDs unchanged. Default: off (UIDs are replaced).
	RetainUIDs bool `json:"retain_uids,omitempty"`
	// RetainDeviceIdentity keeps (or cleans) device identifiers.
	RetainDeviceIdentity bool `json:"retain_device_identity,omitempty"`
	// RetainInstitutionIdentity keeps institution names and addresses.
	RetainInstitutionIdentity bool `json:"retain_institution_identity,omitempty"`
	// RetainPatientCharacteristics keeps sex, age, size, weight and the like.
	RetainPatientCharacteristics bool `json:"retain_patient_characteristics,omitempty"`
	// RetainLongitudinalFullDates keeps dates and times unchanged.
	RetainLongitudinalFullDates bool `json:"retain_longitudinal_full_dates,omitempty"`
	// RetainLongitudinalModifiedDates shifts dates by a per-patient offset
	// derived from the secret, so intervals are kept.
	RetainLongitudinalModifiedDates bool `json:"retain_longitudinal_modified_dates,omitempty"`
	// CleanDescriptors keeps descriptive free text after cleaning it.
	CleanDescriptors bool `json:"clean_descriptors,omitempty"`
	// CleanStructuredContent keeps structured report content after cleaning it.
	CleanStructuredContent bool `json:"clean_structured_content,omitempty"`
	// CleanGraphics keeps graphic annotations after cleaning them.
	CleanGraphics bool `json:"clean_graphics,omitempty"`
}

// RuleAction is what a policy rule does to the attributes it matches.
type RuleAction string

// Rule actions. The PS3.15 codes (D, Z, X, K, C, U) are also accepted as
// actions so a policy can override the table with the standard's vocabulary.
const (
	ActKeep      RuleAction = "keep"       // keep the value unchanged
	ActRemove    RuleAction = "remove"     // remove the attribute (X)
	ActEmpty     RuleAction = "empty"      // zero-length value (Z)
	ActDummy     RuleAction = "dummy"      // VR-correct dummy value (D)
	ActReplace   RuleAction = "replace"    // replace with Rule.Value
	ActHash      RuleAction = "hash"       // keyed-hash pseudonym, Rule.Value is an optional prefix
	ActLookup    RuleAction = "lookup"     // Rule.Table[original]; a miss is Rule.Missing
	ActDateShift RuleAction = "date_shift" // shift DA/DT by the per-patient offset (or Rule.ShiftDays)
	ActRegex     RuleAction = "regex"      // replace Rule.Regex matches with Rule.Value
	ActUID       RuleAction = "uid"        // replace with the keyed UID (U)
	ActClean     RuleAction = "clean"      // clean the value (C)
	ActReject    RuleAction = "reject"     // reject (quarantine) the whole file
)

// MissAction says what a lookup rule does when the original value is not in
// its table.
type MissAction string

// Lookup miss actions. The default (empty) is MissReject: fail closed.
const (
	MissReject MissAction = "reject" // quarantine the file
	MissHash   MissAction = "hash"   // fall back to the keyed-hash pseudonym
	MissEmpty  MissAction = "empty"  // zero-length value
)

// Tag is a DICOM tag as group<<16 | element.
type Tag uint32

// NewTag returns the tag (group,element).
func NewTag(group, element uint16) Tag { return Tag(uint32(group)<<16 | uint32(element)) }

// Group is the tag's group number.
func (t Tag) Group() uint16 { return uint16(t >> 16) }

// Element is the tag's element number.
func (t Tag) Element() uint16 { return uint16(t) }

// IsPrivate reports whether the tag is in an odd (private) group.
func (t Tag) IsPrivate() bool { return t.Group()&1 == 1 }

// Selector picks the attributes a rule applies to.
type Selector struct {
	// Tag is a public tag, or for private attributes the group and element
	// offset (gggg,00ee) under PrivateCreator.
	Tag Tag `json:"tag"`
	// PrivateCreator, when set, makes Tag a private selector: the element
	// (gggg,xxee) reserved by this creator string, whatever block xx it is in.
	PrivateCreator string `json:"private_creator,omitempty"`
	// GroupMask, when non-zero, matches groups g with g&GroupMask == Tag.Group()&GroupMask
	// (0xFF00 for repeating groups such as 60xx).
	GroupMask uint16 `json:"group_mask,omitempty"`
}

// ConditionOp is a comparison in a rule or filter condition.
type ConditionOp string

// Condition operators.
const (
	OpEquals  ConditionOp = "equals"  // value equals Value (trailing padding ignored, case-sensitive)
	OpMatches ConditionOp = "matches" // value matches Regex
	OpPresent ConditionOp = "present" // the attribute is present (top level)
	OpAbsent  ConditionOp = "absent"  // the attribute is absent (top level)
	OpIn      ConditionOp = "in"      // value equals one of Values
)

// Condition tests a top-level attribute of the data set being anonymised.
// Conditions are evaluated on the original values, before any action.
type Condition struct {
	Tag    Tag            `json:"tag"`
	Op     ConditionOp    `json:"op"`
	Value  string         `json:"value,omitempty"`
	Values []string       `json:"values,omitempty"`
	Regex  *regexp.Regexp `json:"-"`
}

// Rule overrides the profile for the attributes its Selector matches, at
// any depth, when all of its When conditions hold. The first matching rule
// wins; attributes no rule matches follow the table and the options.
type Rule struct {
	Select Selector    `json:"select"`
	Action RuleAction  `json:"action"`
	When   []Condition `json:"when,omitempty"`
	// Value is the constant for ActReplace, the replacement for ActRegex and
	// the prefix for ActHash.
	Value string `json:"value,omitempty"`
	// Regex is the pattern for ActRegex.
	Regex *regexp.Regexp `json:"-"`
	// Table is the lookup table for ActLookup (original → replacement).
	Table map[string]string `json:"-"`
	// Missing is what ActLookup does on a miss. Default: MissReject.
	Missing MissAction `json:"missing,omitempty"`
	// ShiftDays, when non-zero, is a fixed shift for ActDateShift instead
	// of the per-patient one.
	ShiftDays int `json:"shift_days,omitempty"`
	// Source names the rule in reports (e.g. "policy.yaml:42"). No values.
	Source string `json:"source,omitempty"`
}

// FilterAction says whether a matching filter accepts or rejects a file.
type FilterAction string

// Filter actions.
const (
	FilterAccept FilterAction = "accept"
	FilterReject FilterAction = "reject"
)

// Filter accepts or rejects whole files. Filters are evaluated in order
// before anything is written; the first whose conditions all hold decides.
// When accept filters exist and none matches, the file is rejected.
type Filter struct {
	Action FilterAction `json:"action"`
	When   []Condition  `json:"when"`
	// Reason is recorded when the filter rejects (must contain no PHI).
	Reason string `json:"reason,omitempty"`
}

// BurnedInAction says what to do with files that declare burned-in
// annotations (BurnedInAnnotation = YES) or have no declaration where one
// is expected.
type BurnedInAction string

// Burned-in annotation handling. The default (empty) is BurnedInQuarantine.
const (
	BurnedInQuarantine BurnedInAction = "quarantine" // never send; quarantine with a reason
	BurnedInAllow      BurnedInAction = "allow"      // anonymise the header, pass pixels through
)

// Profile is a compiled policy: everything the engine needs to anonymise
// files. Build one with the policy package, or by hand in tests.
type Profile struct {
	// ID, Version and Hash identify the policy (Hash: hex SHA-256 of its
	// canonical form). They go into reports and DeidentificationMethod.
	ID      string
	Version string
	Hash    string
	// Options are the PS3.15 option columns in force.
	Options Options
	// Secret keys every pseudonym: UIDs, date shifts and hashes. It must be
	// at least 16 bytes; the same secret gives the same output.
	Secret []byte
	// Rules override the table, first match wins.
	Rules []Rule
	// Filters accept or reject whole files.
	Filters []Filter
	// BurnedIn handles BurnedInAnnotation = YES. Default: quarantine.
	BurnedIn BurnedInAction
	// KeepUnknownPublic keeps public attributes that are neither in the
	// DICOM dictionary nor in Table E.1-1. Default: false (removed).
	KeepUnknownPublic bool
	// MaxDateShiftDays bounds the per-patient date shift, which is drawn
	// from [1, MaxDateShiftDays] days into the past. Default: 3650.
	MaxDateShiftDays int
	// PatientIDPrefix prefixes hashed patient IDs. Default: "ANON-".
	PatientIDPrefix string
	// PixelRules blank regions of the pixel data (Clean Pixel Data). The
	// first rule whose conditions hold applies. Default: none.
	PixelRules []PixelRule
	// RiskyModalities and RiskySOPClasses name files that may carry
	// burned-in text whatever they declare: without a matching pixel
	// rule they are quarantined. Default: none.
	RiskyModalities []string
	RiskySOPClasses []string
	// JPEGBaseline is what a pixel rule does to baseline JPEG pixel data.
	// Default: JPEGQuarantine.
	JPEGBaseline JPEGAction
	// KeepEncapsulatedDocuments keeps encapsulated documents (PDF, CDA)
	// unchanged. Default: false (the document is replaced by an empty one).
	KeepEncapsulatedDocuments bool
}
