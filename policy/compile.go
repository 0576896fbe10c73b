package policy

import (
	"bytes"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strconv"

	"dicomgate/anonymize"
)

// MinSecretLen is the shortest secret [Policy.Compile] accepts.
const MinSecretLen = 16

// Compile returns the engine profile of the policy, keyed by secret (the
// site's re-identification secret, at least [MinSecretLen] bytes). Each call
// returns a new Profile sharing nothing mutable with p or other profiles.
func (p *Policy) Compile(secret []byte) (*anonymize.Profile, error) {
	if len(secret) < MinSecretLen {
		return nil, fmt.Errorf("policy: compile %s: secret must be at least %d bytes", p.id, MinSecretLen)
	}
	prof := &anonymize.Profile{
		ID:                p.id,
		Version:           strconv.Itoa(p.version),
		Hash:              p.hash,
		Options:           p.options,
		Secret:            bytes.Clone(secret),
		BurnedIn:          p.burnedIn,
		KeepUnknownPublic: p.keepUnknownPublic,
		MaxDateShiftDays:  p.maxShiftDays,
		PatientIDPrefix:   p.patientIDPrefix,
	}
	source := filepath.Base(p.name)
	for _, r := range p.rules {
		prof.Rules = append(prof.Rules, anonymize.Rule{
			Select:    r.sel,
			Action:    r.action,
			When:      cloneConditions(r.when),
			Value:     r.value,
			Regex:     r.re, // *regexp.Regexp is safe for concurrent use
			Table:     maps.Clone(r.table.entries),
			Missing:   r.missing,
			ShiftDays: r.shiftDays,
			Source:    source + ":" + strconv.Itoa(r.line),
		})
	}
	p.compilePixels(prof, source)
	for _, f := range p.filters {
		prof.Filters = append(prof.Filters, anonymize.Filter{
			Action: f.Action,
			When:   cloneConditions(f.When),
			Reason: f.Reason,
		})
	}
	return prof, nil
}

// cloneConditions copies conditions and their value lists.
func cloneConditions(cs []anonymize.Condition) []anonymize.Condition {
	out := slices.Clone(cs)
	for i := range out {
		out[i].Values = slices.Clone(out[i].Values)
	}
	return out
}
