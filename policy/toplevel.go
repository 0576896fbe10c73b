package policy

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"

	"dicomgate/anonymize"
)

// topFields are the top-level fields of a policy file.
func topFields() []string {
	return []string{"id", "version", "description", "profile", "options", "burned_in_annotation",
		"unknown_public", "date_shift", "patient_id_prefix", "rules", "filters", "recipients",
		"pixel_rules", "risky", "jpeg_baseline", "encapsulated_documents"}
}

// validID reports whether s is 1 to maxIDLen characters a-z, 0-9 and -,
// not starting with -.
func validID(s string) bool {
	if s == "" || len(s) > maxIDLen || s[0] == '-' {
		return false
	}
	for _, r := range s {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' {
			return false
		}
	}
	return true
}

// topField parses one top-level field into p.
func (d *decoder) topField(p *Policy, e entry, dir string) {
	n, f := e.value, e.name
	switch f {
	case "id":
		if s, ok := d.str(n, f); ok {
			if !validID(s) {
				d.problemf(n, f, "must be 1 to %d characters a-z, 0-9 and -, not starting with -", maxIDLen)
			}
			p.id = s
		}
	case "version":
		if v, ok := d.integer(n, f); ok {
			if v < 1 || v > 1<<31-1 {
				d.problemf(n, f, "must be a positive integer")
			}
			p.version = v
		}
	case "description":
		if s, ok := d.str(n, f); ok {
			p.description = strings.TrimSpace(s)
		}
	case "profile":
		if s, ok := d.str(n, f); ok && s != ProfileBasic {
			d.problemf(n, f, "unsupported profile; the only profile is %q", ProfileBasic)
		}
	case "options":
		d.options(p, n)
	case "burned_in_annotation":
		if s, ok := d.str(n, f); ok {
			switch b := anonymize.BurnedInAction(s); b {
			case anonymize.BurnedInQuarantine, anonymize.BurnedInAllow:
				p.burnedIn = b
			default:
				d.problemf(n, f, "must be quarantine or allow")
			}
		}
	case "unknown_public":
		if s, ok := d.str(n, f); ok {
			switch s {
			case "remove", "keep":
				p.keepUnknownPublic = s == "keep"
			default:
				d.problemf(n, f, "must be remove or keep")
			}
		}
	case "date_shift":
		d.dateShift(p, n)
	case "patient_id_prefix":
		if s, ok := d.str(n, f); ok {
			if msg := prefixProblem(s); msg != "" {
				d.problemf(n, f, "%s", msg)
			}
			p.patientIDPrefix = s
		}
	case "rules":
		p.rules = d.rules(n, dir)
	case "filters":
		p.filters = d.filters(n)
	case "recipients":
		d.recipients(p, n)
	case "pixel_rules":
		p.pixelRules = d.pixelRules(n)
	case "risky":
		d.risky(p, n)
	case "jpeg_baseline":
		if s, ok := d.str(n, f); ok {
			switch anonymize.JPEGAction(s) {
			case anonymize.JPEGQuarantine:
			case anonymize.JPEGBlankBlocks:
				d.problemf(n, f, "blank-blocks is not available yet; use quarantine")
			default:
				d.problemf(n, f, "must be quarantine")
			}
		}
	case "encapsulated_documents":
		if s, ok := d.str(n, f); ok {
			switch s {
			case "remove", "keep":
				p.keepDocuments = s == "keep"
			default:
				d.problemf(n, f, "must be remove or keep")
			}
		}
	}
}

// options parses the options list.
func (d *decoder) options(p *Policy, n *yaml.Node) {
	names, nodes, _ := d.strs(n, "options")
	for i, name := range names {
		f := index("options", i)
		b := optionField(&p.options, name)
		switch {
		case b == nil:
			d.problemf(nodes[i], f, "unknown option %q%s", name, suggest(name, optionNameList()))
		case *b:
			d.problemf(nodes[i], f, "option %s listed twice", name)
		default:
			*b = true
		}
	}
	if p.options.RetainLongitudinalFullDates && p.options.RetainLongitudinalModifiedDates {
		d.problemf(n, "options", "%s and %s exclude each other; choose one",
			OptRetainLongFullDates, OptRetainLongModifiedDates)
	}
}

// dateShift parses the date_shift mapping.
func (d *decoder) dateShift(p *Policy, n *yaml.Node) {
	fs, _ := d.mapping(n, "date_shift", []string{"max_days"})
	if v := fs.get("max_days"); v != nil {
		if days, ok := d.integer(v, "date_shift.max_days"); ok {
			if days < 1 || days > maxShiftDays {
				d.problemf(v, "date_shift.max_days", "must be between 1 and %d", maxShiftDays)
			}
			p.maxShiftDays = days
		}
	}
}

// prefixProblem checks patient_id_prefix: short printable ASCII.
func prefixProblem(s string) string {
	if s == "" || len(s) > maxPrefixLen {
		return fmt.Sprintf("must be 1 to %d characters", maxPrefixLen)
	}
	for _, r := range s {
		if r < 0x20 || r > 0x7E || r == '\\' {
			return "must be printable ASCII without backslash"
		}
	}
	return ""
}

// recipients parses the recipients list (opaque key strings).
func (d *decoder) recipients(p *Policy, n *yaml.Node) {
	keys, nodes, _ := d.strs(n, "recipients")
	seen := make(map[string]bool)
	for i, k := range keys {
		f := index("recipients", i)
		k = strings.TrimSpace(k)
		switch {
		case k == "" || len(k) > maxRecipientLen:
			d.problemf(nodes[i], f, "must be a public key string")
		case seen[k]:
			d.problemf(nodes[i], f, "recipient listed twice")
		default:
			seen[k] = true
			p.recipients = append(p.recipients, k)
		}
	}
}
