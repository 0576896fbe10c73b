package policy

import (
	"fmt"

	"gopkg.in/yaml.v3"

	"dicomgate/anonymize"
)

// maxReasonLen bounds a filter's reason text.
const maxReasonLen = 200

// filters parses the filters list: each item has exactly one of accept or
// reject (a condition mapping) and, for reject, an optional reason.
func (d *decoder) filters(n *yaml.Node) []anonymize.Filter {
	if n.Kind != yaml.SequenceNode {
		d.problemf(n, "filters", "must be a list")
		return nil
	}
	var out []anonymize.Filter
	for i, fn := range n.Content {
		field := index("filters", i)
		fs, ok := d.mapping(fn, field, []string{"accept", "reject", "reason"})
		if !ok {
			continue
		}
		acc, rej := fs.get("accept"), fs.get("reject")
		var f anonymize.Filter
		switch {
		case acc != nil && rej != nil:
			d.problemf(fn, field, "has both accept and reject; use one per filter")
			continue
		case acc != nil:
			f = anonymize.Filter{Action: anonymize.FilterAccept, When: d.conditions(acc, join(field, "accept"))}
		case rej != nil:
			f = anonymize.Filter{Action: anonymize.FilterReject, When: d.conditions(rej, join(field, "reject"))}
		default:
			d.problemf(fn, field, "needs accept or reject")
			continue
		}
		if rn := fs.get("reason"); rn != nil {
			if f.Action != anonymize.FilterReject {
				d.problemf(fs.key("reason"), join(field, "reason"), "only reject filters have a reason")
			} else if s, ok := d.str(rn, join(field, "reason")); ok {
				if len(s) > maxReasonLen {
					d.problemf(rn, join(field, "reason"), "longer than %d characters", maxReasonLen)
				}
				f.Reason = s
			}
		}
		if f.Action == anonymize.FilterReject && f.Reason == "" {
			f.Reason = fmt.Sprintf("rejected by policy filter %d", i+1)
		}
		out = append(out, f)
	}
	return out
}
