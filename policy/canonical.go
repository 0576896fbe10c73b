package policy

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"

	"dicomgate/anonymize"
)

// canonicalFormat names the canonical serialisation; change it whenever the
// serialisation changes, so old and new hashes never collide.
const canonicalFormat = "dicomgate-policy/1"

// canonicalPolicy is the normalised content of a policy: tags resolved to
// numbers, aliases to action names, defaults written out, sets sorted and
// lookup tables replaced by the hash of their content. encoding/json
// writes struct fields in declaration order, so the bytes are stable.
type canonicalPolicy struct {
	Format        string            `json:"format"`
	ID            string            `json:"id"`
	Version       int               `json:"version"`
	Description   string            `json:"description"`
	Profile       string            `json:"profile"`
	Options       []string          `json:"options"`
	BurnedIn      string            `json:"burned_in_annotation"`
	UnknownPublic string            `json:"unknown_public"`
	MaxShiftDays  int               `json:"date_shift_max_days"`
	Prefix        string            `json:"patient_id_prefix"`
	Rules         []canonicalRule   `json:"rules"`
	Filters       []canonicalFilter `json:"filters"`
	Recipients    []string          `json:"recipients"`
	// Pixel and document settings, left out at their defaults.
	PixelRules            []canonicalPixelRule `json:"pixel_rules,omitempty"`
	RiskyModalities       []string             `json:"risky_modalities,omitempty"`
	RiskySOPClasses       []string             `json:"risky_sop_classes,omitempty"`
	EncapsulatedDocuments string               `json:"encapsulated_documents,omitempty"`
}

// canonicalRule is a rule in canonical form. Rule order is kept: the
// first match wins.
type canonicalRule struct {
	Tag         string               `json:"tag"`
	Action      string               `json:"action"`
	When        []canonicalCondition `json:"when"`
	Value       string               `json:"value"`
	Pattern     string               `json:"pattern"`
	TableSHA256 string               `json:"table_sha256"`
	Missing     string               `json:"missing"`
	ShiftDays   int                  `json:"shift_days"`
}

// canonicalFilter is a filter in canonical form; filter order is kept.
type canonicalFilter struct {
	Action string               `json:"action"`
	When   []canonicalCondition `json:"when"`
	Reason string               `json:"reason"`
}

// canonicalCondition is one test; the tests of a rule or filter all must
// hold, so they are sorted, and so are the values of "in".
type canonicalCondition struct {
	Tag    string   `json:"tag"`
	Op     string   `json:"op"`
	Value  string   `json:"value"`
	Values []string `json:"values"`
}

// canonicalJSON serialises p canonically.
func (p *Policy) canonicalJSON() ([]byte, error) {
	c := canonicalPolicy{
		Format:        canonicalFormat,
		ID:            p.id,
		Version:       p.version,
		Description:   p.description,
		Profile:       ProfileBasic,
		Options:       OptionNames(p.options),
		BurnedIn:      string(p.burnedIn),
		UnknownPublic: "remove",
		MaxShiftDays:  p.maxShiftDays,
		Prefix:        p.patientIDPrefix,
		Rules:         []canonicalRule{},
		Filters:       []canonicalFilter{},
		Recipients:    slices.Sorted(slices.Values(p.recipients)),
	}
	if p.keepUnknownPublic {
		c.UnknownPublic = "keep"
	}
	if c.Recipients == nil {
		c.Recipients = []string{}
	}
	for _, r := range p.rules {
		cr := canonicalRule{
			Tag:         selectorString(r.sel),
			Action:      string(r.action),
			When:        canonicalConditions(r.when),
			Value:       r.value,
			TableSHA256: r.table.sha256,
			Missing:     string(r.missing),
			ShiftDays:   r.shiftDays,
		}
		if r.re != nil {
			cr.Pattern = r.re.String()
		}
		c.Rules = append(c.Rules, cr)
	}
	for _, f := range p.filters {
		c.Filters = append(c.Filters, canonicalFilter{
			Action: string(f.Action),
			When:   canonicalConditions(f.When),
			Reason: f.Reason,
		})
	}
	p.canonicalPixels(&c)
	return json.Marshal(c)
}

// canonicalConditions converts and sorts conditions.
func canonicalConditions(cs []anonymize.Condition) []canonicalCondition {
	out := make([]canonicalCondition, 0, len(cs))
	for _, c := range cs {
		cc := canonicalCondition{
			Tag:    selectorString(anonymize.Selector{Tag: c.Tag}),
			Op:     string(c.Op),
			Value:  c.Value,
			Values: slices.Sorted(slices.Values(c.Values)),
		}
		if c.Regex != nil {
			cc.Value = c.Regex.String()
		}
		if cc.Values == nil {
			cc.Values = []string{}
		}
		out = append(out, cc)
	}
	slices.SortFunc(out, func(a, b canonicalCondition) int {
		return cmp.Or(cmp.Compare(a.Tag, b.Tag), cmp.Compare(a.Op, b.Op),
			cmp.Compare(a.Value, b.Value), slices.Compare(a.Values, b.Values))
	})
	return out
}

// hashHex is the hex SHA-256 of b.
func hashHex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
