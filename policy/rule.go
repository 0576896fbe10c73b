package policy

import (
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"dicomgate/anonymize"
)

// maxShiftDays bounds date shifts: 100 years.
const maxShiftDays = 36500

// rule is a validated policy rule.
type rule struct {
	line      int
	sel       anonymize.Selector
	action    anonymize.RuleAction
	when      []anonymize.Condition
	value     string
	re        *regexp.Regexp
	table     table
	missing   anonymize.MissAction
	shiftDays int
}

// ruleFields are the fields a rule may have.
func ruleFields() []string {
	return []string{"tag", "action", "when", "value", "pattern", "table",
		"key_column", "value_column", "missing", "shift_days"}
}

// actionFields returns, for each optional rule field, the actions it
// belongs to.
func actionFields() map[string][]anonymize.RuleAction {
	return map[string][]anonymize.RuleAction{
		"value":        {anonymize.ActReplace, anonymize.ActRegex, anonymize.ActHash},
		"pattern":      {anonymize.ActRegex},
		"table":        {anonymize.ActLookup},
		"key_column":   {anonymize.ActLookup},
		"value_column": {anonymize.ActLookup},
		"missing":      {anonymize.ActLookup},
		"shift_days":   {anonymize.ActDateShift},
	}
}

// parseAction accepts an action name or a PS3.15 action letter.
func parseAction(s string) (anonymize.RuleAction, bool) {
	switch s {
	case "K":
		return anonymize.ActKeep, true
	case "X":
		return anonymize.ActRemove, true
	case "Z":
		return anonymize.ActEmpty, true
	case "D":
		return anonymize.ActDummy, true
	case "U":
		return anonymize.ActUID, true
	case "C":
		return anonymize.ActClean, true
	}
	a := anonymize.RuleAction(s)
	return a, slices.Contains(allActions(), a)
}

// allActions lists the rule actions by name.
func allActions() []anonymize.RuleAction {
	return []anonymize.RuleAction{anonymize.ActKeep, anonymize.ActRemove, anonymize.ActEmpty,
		anonymize.ActDummy, anonymize.ActReplace, anonymize.ActHash, anonymize.ActLookup,
		anonymize.ActDateShift, anonymize.ActRegex, anonymize.ActUID, anonymize.ActClean,
		anonymize.ActReject}
}

// rules parses the rules list.
func (d *decoder) rules(n *yaml.Node, dir string) []rule {
	if n.Kind != yaml.SequenceNode {
		d.problemf(n, "rules", "must be a list")
		return nil
	}
	var out []rule
	for i, rn := range n.Content {
		r, ok := d.rule(rn, index("rules", i), dir)
		if !ok {
			continue
		}
		for j, prev := range out {
			if prev.sel == r.sel && len(prev.when) == 0 {
				d.problemf(rn, index("rules", i), "never applies: the rule on line %d (rules[%d]) already matches this tag unconditionally", prev.line, j)
				break
			}
		}
		out = append(out, r)
	}
	return out
}

// rule parses one rule; ok is false when it has any problem.
func (d *decoder) rule(n *yaml.Node, field, dir string) (rule, bool) {
	before := len(d.problems)
	fs, ok := d.mapping(n, field, ruleFields())
	if !ok {
		return rule{}, false
	}
	r := rule{line: n.Line}
	if tn := fs.get("tag"); tn == nil {
		d.problemf(n, join(field, "tag"), "missing required field")
	} else if s, ok := d.str(tn, join(field, "tag")); ok {
		sel, err := parseSelector(s)
		if err != nil {
			d.problemf(tn, join(field, "tag"), "%v", err)
		}
		r.sel = sel
	}
	an := fs.get("action")
	if an == nil {
		d.problemf(n, join(field, "action"), "missing required field")
		return rule{}, false
	}
	s, ok := d.str(an, join(field, "action"))
	if !ok {
		return rule{}, false
	}
	if r.action, ok = parseAction(s); !ok {
		d.problemf(an, join(field, "action"), "unknown action %q (want one of %s, or K X Z D U C)", s, joinActions())
		return rule{}, false
	}
	for name, actions := range actionFields() {
		if k := fs.key(name); k != nil && !slices.Contains(actions, r.action) {
			d.problemf(k, join(field, name), "not used by action %s (only by %s)", r.action, joinList(actions))
		}
	}
	if wn := fs.get("when"); wn != nil {
		r.when = d.conditions(wn, join(field, "when"))
	}
	d.ruleArgs(&r, n, fs, field, dir)
	return r, len(d.problems) == before
}

// ruleArgs parses the action-specific fields of r.
func (d *decoder) ruleArgs(r *rule, n *yaml.Node, fs fields, field, dir string) {
	required := func(name string) *yaml.Node {
		v := fs.get(name)
		if v == nil {
			d.problemf(n, join(field, name), "required by action %s", r.action)
		}
		return v
	}
	switch r.action {
	case anonymize.ActReplace:
		if v := required("value"); v != nil {
			r.value, _ = d.str(v, join(field, "value"))
		}
	case anonymize.ActHash:
		if v := fs.get("value"); v != nil {
			r.value, _ = d.str(v, join(field, "value"))
		}
	case anonymize.ActRegex:
		if v := required("value"); v != nil {
			r.value, _ = d.str(v, join(field, "value"))
		}
		if v := required("pattern"); v != nil {
			if s, ok := d.str(v, join(field, "pattern")); ok {
				re, err := compileRegex(s)
				if err != nil {
					d.problemf(v, join(field, "pattern"), "%v", err)
				}
				r.re = re
			}
		}
	case anonymize.ActDateShift:
		if v := fs.get("shift_days"); v != nil {
			days, ok := d.integer(v, join(field, "shift_days"))
			if ok && (days == 0 || days > maxShiftDays || days < -maxShiftDays) {
				d.problemf(v, join(field, "shift_days"), "must be a non-zero number of days between -%d and %d", maxShiftDays, maxShiftDays)
			}
			r.shiftDays = days
		}
	case anonymize.ActLookup:
		d.lookupArgs(r, n, fs, field, dir)
	}
}

// lookupArgs parses and loads the table of a lookup rule.
func (d *decoder) lookupArgs(r *rule, n *yaml.Node, fs fields, field, dir string) {
	r.missing = anonymize.MissReject
	if v := fs.get("missing"); v != nil {
		if s, ok := d.str(v, join(field, "missing")); ok {
			switch m := anonymize.MissAction(s); m {
			case anonymize.MissReject, anonymize.MissHash, anonymize.MissEmpty:
				r.missing = m
			default:
				d.problemf(v, join(field, "missing"), "must be reject, hash or empty")
			}
		}
	}
	keyCol, valCol := DefaultKeyColumn, DefaultValueColumn
	for name, col := range map[string]*string{"key_column": &keyCol, "value_column": &valCol} {
		if v := fs.get(name); v != nil {
			if s, ok := d.str(v, join(field, name)); ok && strings.TrimSpace(s) != "" {
				*col = strings.TrimSpace(s)
			} else if ok {
				d.problemf(v, join(field, name), "must not be empty")
			}
		}
	}
	if keyCol == valCol {
		d.problemf(n, join(field, "value_column"), "key and value columns must differ")
		return
	}
	tn := fs.get("table")
	if tn == nil {
		d.problemf(n, join(field, "table"), "required by action lookup")
		return
	}
	name, ok := d.str(tn, join(field, "table"))
	if !ok {
		return
	}
	t, probs := loadTable(dir, name, keyCol, valCol)
	for _, p := range probs {
		d.problemf(tn, join(field, "table"), "%s", p)
	}
	r.table = t
}

// key returns the key node of name, or nil.
func (fs fields) key(name string) *yaml.Node {
	for _, e := range fs {
		if e.name == name {
			return e.key
		}
	}
	return nil
}

// joinActions lists the action names for messages.
func joinActions() string { return joinList(allActions()) }

// joinList joins actions with commas.
func joinList(as []anonymize.RuleAction) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = string(a)
	}
	return strings.Join(s, ", ")
}
