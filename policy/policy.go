package policy

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"dicomgate/anonymize"
)

// Defaults of the optional top-level fields.
const (
	// DefaultMaxDateShiftDays is date_shift.max_days when not given.
	DefaultMaxDateShiftDays = 3650
	// DefaultPatientIDPrefix is patient_id_prefix when not given.
	DefaultPatientIDPrefix = "ANON-"
	// ProfileBasic is the only profile: the PS3.15 Annex E Basic
	// Application Level Confidentiality Profile.
	ProfileBasic = "basic"

	maxPolicyBytes  = 4 << 20 // refuse larger policy files
	maxIDLen        = 64
	maxPrefixLen    = 16
	maxRecipientLen = 16 << 10
)

// Policy is a parsed and validated policy file. It is immutable and safe
// for concurrent use; [Policy.Compile] turns it into an engine profile.
type Policy struct {
	name              string // file name, for rule sources in reports
	id                string
	version           int
	description       string
	options           anonymize.Options
	burnedIn          anonymize.BurnedInAction
	keepUnknownPublic bool
	maxShiftDays      int
	patientIDPrefix   string
	rules             []rule
	filters           []anonymize.Filter
	pixelRules        []pixelRule
	riskyModalities   []string
	riskySOPClasses   []string
	keepDocuments     bool
	recipients        []string
	canonical         []byte
	hash              string
}

// ID returns the policy's id, such as "trial-abc".
func (p *Policy) ID() string { return p.id }

// Version returns the policy's version number (at least 1).
func (p *Policy) Version() int { return p.version }

// Description returns the policy's free-text description.
func (p *Policy) Description() string { return p.description }

// Options returns the PS3.15 options the policy turns on.
func (p *Policy) Options() anonymize.Options { return p.options }

// Recipients returns a copy of the recipient public keys, as written.
func (p *Policy) Recipients() []string { return append([]string(nil), p.recipients...) }

// Hash returns the hex SHA-256 of the policy's canonical form: it changes
// with any change of meaning (including lookup table content) and with
// nothing else.
func (p *Policy) Hash() string { return p.hash }

// Canonical returns a copy of the canonical JSON form that [Policy.Hash]
// covers. Lookup tables appear as the SHA-256 of their content.
func (p *Policy) Canonical() []byte { return bytes.Clone(p.canonical) }

// Load reads and validates the policy file at path. Lookup tables are read
// relative to the file's folder. Problems with the content are returned
// together as a *[ValidationError].
func Load(path string) (*Policy, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("policy: load: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxPolicyBytes+1))
	if err != nil {
		return nil, fmt.Errorf("policy: load %s: %w", path, err)
	}
	return Parse(path, data, filepath.Dir(path))
}

// Parse validates the policy in data. name identifies it in problems and
// rule sources; lookup tables are read relative to dir ("" for the current
// folder) and may not be outside it. Every problem found is returned in one
// *[ValidationError].
func Parse(name string, data []byte, dir string) (*Policy, error) {
	d := &decoder{}
	p := d.parse(data, dir)
	if p == nil && len(d.problems) == 0 {
		d.problems = append(d.problems, Problem{Message: "not a policy"}) // unreachable; never return a nil policy
	}
	if len(d.problems) > 0 {
		sortProblems(d.problems)
		return nil, &ValidationError{File: name, Problems: d.problems}
	}
	p.name = name
	canon, err := p.canonicalJSON()
	if err != nil {
		return nil, fmt.Errorf("policy: %s: canonical form: %w", name, err)
	}
	p.canonical, p.hash = canon, hashHex(canon)
	return p, nil
}

// parse validates the whole document.
func (d *decoder) parse(data []byte, dir string) *Policy {
	root := d.document(data)
	if root == nil {
		return nil
	}
	fs, ok := d.mapping(root, "", topFields())
	if !ok {
		return nil
	}
	p := &Policy{
		burnedIn:        anonymize.BurnedInQuarantine,
		maxShiftDays:    DefaultMaxDateShiftDays,
		patientIDPrefix: DefaultPatientIDPrefix,
	}
	for _, req := range []string{"id", "version"} {
		if fs.get(req) == nil {
			d.problemf(root, req, "missing required field")
		}
	}
	for _, e := range fs {
		d.topField(p, e, dir)
	}
	return p
}
