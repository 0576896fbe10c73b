package policy

import (
	"gopkg.in/yaml.v3"

	"dicomgate/anonymize"
)

// conditionOps returns the operator names of the mapping form.
func conditionOps() []string {
	return []string{"equals", "matches", "in", "present", "absent"}
}

// conditions parses a mapping of tag → test, all of which must hold:
//
//	Modality: US                        # equals
//	Modality: [SR, KO]                  # in
//	Manufacturer: {matches: '(?i)acme'} # or equals, in, present, absent
func (d *decoder) conditions(n *yaml.Node, field string) []anonymize.Condition {
	ents, ok := d.mapping(n, field, nil)
	if !ok {
		return nil
	}
	if len(ents) == 0 {
		d.problemf(n, field, "needs at least one condition")
		return nil
	}
	var out []anonymize.Condition
	seen := make(map[anonymize.Tag]bool)
	for _, e := range ents {
		f := join(field, e.name)
		sel, err := parseSelector(e.name)
		if err != nil {
			d.problemf(e.key, f, "%v", err)
			continue
		}
		if sel.PrivateCreator != "" || sel.GroupMask != 0 {
			d.problemf(e.key, f, "conditions test one public top-level tag, not a private or repeating one")
			continue
		}
		if seen[sel.Tag] {
			d.problemf(e.key, f, "tag tested twice in the same condition")
			continue
		}
		seen[sel.Tag] = true
		out = append(out, d.tests(sel.Tag, e.value, f)...)
	}
	return out
}

// tests parses the test(s) of one tag of a condition mapping.
func (d *decoder) tests(tag anonymize.Tag, n *yaml.Node, field string) []anonymize.Condition {
	switch n.Kind {
	case yaml.ScalarNode:
		v, ok := d.str(n, field)
		if !ok {
			return nil
		}
		return []anonymize.Condition{{Tag: tag, Op: anonymize.OpEquals, Value: v}}
	case yaml.SequenceNode:
		if c, ok := d.in(tag, n, field); ok {
			return []anonymize.Condition{c}
		}
		return nil
	case yaml.MappingNode:
	default:
		d.problemf(n, field, "must be a value, a list of values or a mapping of tests")
		return nil
	}
	ops, _ := d.mapping(n, field, conditionOps())
	if len(ops) == 0 && len(n.Content) == 0 {
		d.problemf(n, field, "needs a test: one of equals, matches, in, present, absent")
	}
	var out []anonymize.Condition
	for _, op := range ops {
		f := join(field, op.name)
		switch op.name {
		case "equals":
			if v, ok := d.str(op.value, f); ok {
				out = append(out, anonymize.Condition{Tag: tag, Op: anonymize.OpEquals, Value: v})
			}
		case "matches":
			v, ok := d.str(op.value, f)
			if !ok {
				continue
			}
			re, err := compileRegex(v)
			if err != nil {
				d.problemf(op.value, f, "%v", err)
				continue
			}
			out = append(out, anonymize.Condition{Tag: tag, Op: anonymize.OpMatches, Regex: re})
		case "in":
			if c, ok := d.in(tag, op.value, f); ok {
				out = append(out, c)
			}
		case "present", "absent":
			b, ok := d.boolean(op.value, f)
			if !ok {
				continue
			}
			if b == (op.name == "present") {
				out = append(out, anonymize.Condition{Tag: tag, Op: anonymize.OpPresent})
			} else {
				out = append(out, anonymize.Condition{Tag: tag, Op: anonymize.OpAbsent})
			}
		}
	}
	return out
}

// in parses a non-empty list of values.
func (d *decoder) in(tag anonymize.Tag, n *yaml.Node, field string) (anonymize.Condition, bool) {
	vs, _, ok := d.strs(n, field)
	if !ok {
		return anonymize.Condition{}, false
	}
	if len(vs) == 0 {
		d.problemf(n, field, "needs at least one value")
		return anonymize.Condition{}, false
	}
	return anonymize.Condition{Tag: tag, Op: anonymize.OpIn, Values: vs}, true
}
