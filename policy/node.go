package policy

import (
	"fmt"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// decoder walks a yaml.Node tree and collects every problem it meets, so a
// policy author sees all of them at once.
type decoder struct {
	problems []Problem
}

// problemf records a problem at node n (which may be nil).
func (d *decoder) problemf(n *yaml.Node, field, format string, args ...any) {
	p := Problem{Field: field, Message: fmt.Sprintf(format, args...)}
	if n != nil {
		p.Line, p.Column = n.Line, n.Column
	}
	d.problems = append(d.problems, p)
}

// entry is one key/value pair of a YAML mapping.
type entry struct {
	name       string
	key, value *yaml.Node
}

// fields is the checked content of a mapping.
type fields []entry

// get returns the value node of name, or nil.
func (fs fields) get(name string) *yaml.Node {
	for _, e := range fs {
		if e.name == name {
			return e.value
		}
	}
	return nil
}

// mapping returns the entries of mapping node n in document order. It
// reports non-mappings, duplicate keys and, when allowed is non-nil, keys
// not in allowed (typos must never silently weaken a policy). ok is false
// when n is not a mapping.
func (d *decoder) mapping(n *yaml.Node, field string, allowed []string) (fs fields, ok bool) {
	if n.Kind != yaml.MappingNode {
		d.problemf(n, field, "must be a mapping")
		return nil, false
	}
	seen := make(map[string]bool)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.problemf(k, field, "keys must be plain names")
			continue
		}
		name := k.Value
		f := join(field, name)
		if seen[name] {
			d.problemf(k, f, "duplicate key")
			continue
		}
		seen[name] = true
		if allowed != nil && !slices.Contains(allowed, name) {
			d.problemf(k, f, "unknown field%s", suggest(name, allowed))
			continue
		}
		fs = append(fs, entry{name: name, key: k, value: v})
	}
	return fs, true
}

// str returns the text of a scalar node; null and collections are problems.
func (d *decoder) str(n *yaml.Node, field string) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() == "!!null" {
		d.problemf(n, field, "must be a string")
		return "", false
	}
	return n.Value, true
}

// integer returns the value of an integer scalar node.
func (d *decoder) integer(n *yaml.Node, field string) (int, bool) {
	var i int
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&i) != nil {
		d.problemf(n, field, "must be an integer")
		return 0, false
	}
	return i, true
}

// boolean returns the value of a true/false scalar node.
func (d *decoder) boolean(n *yaml.Node, field string) (bool, bool) {
	var b bool
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(&b) != nil {
		d.problemf(n, field, "must be true or false")
		return false, false
	}
	return b, true
}

// strs returns the scalars of a sequence node with their nodes.
func (d *decoder) strs(n *yaml.Node, field string) ([]string, []*yaml.Node, bool) {
	if n.Kind != yaml.SequenceNode {
		d.problemf(n, field, "must be a list")
		return nil, nil, false
	}
	var out []string
	var nodes []*yaml.Node
	ok := true
	for i, c := range n.Content {
		s, good := d.str(c, index(field, i))
		if !good {
			ok = false
			continue
		}
		out = append(out, s)
		nodes = append(nodes, c)
	}
	return out, nodes, ok
}

// checkNoAliases reports every anchor and alias: they make a policy hard to
// review, and expanding them is a denial-of-service risk.
func (d *decoder) checkNoAliases(n *yaml.Node) {
	if n.Kind == yaml.AliasNode || n.Anchor != "" {
		d.problemf(n, "", "YAML anchors and aliases are not allowed in policies")
		return
	}
	for _, c := range n.Content {
		d.checkNoAliases(c)
	}
}

// join appends a field name to a dotted path.
func join(parent, name string) string {
	if parent == "" {
		return name
	}
	return parent + "." + name
}

// index appends a list index to a dotted path.
func index(parent string, i int) string {
	return fmt.Sprintf("%s[%d]", parent, i)
}

// suggest returns ` (did you mean "x"?)` for the allowed name closest to
// name, when one is close enough to be a likely typo.
func suggest(name string, allowed []string) string {
	best, bestDist := "", 3
	for _, a := range allowed {
		if dist := editDistance(strings.ToLower(name), a); dist < bestDist {
			best, bestDist = a, dist
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// editDistance is the Levenshtein distance between a and b (bytes).
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
