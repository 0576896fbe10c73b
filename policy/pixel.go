package policy

import (
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"dicomgate/anonymize"
)

// Bounds of the pixel_rules section.
const (
	maxPixelRules = 256
	maxRegions    = 64
	maxPixelCoord = 0xFFFF
)

// pixelRule is a validated entry of pixel_rules.
type pixelRule struct {
	line    int
	name    string
	when    []anonymize.Condition
	regions []anonymize.Rect
	frames  []int
}

// pixelRules parses the pixel_rules list:
//
//	pixel_rules:
//	  - name: acme-us-banner
//	    when: {Modality: US, Manufacturer: {matches: '(?i)acme'}, Rows: 480}
//	    regions: [{x: 0, y: 0, w: 640, h: 48}]
//	    frames: [1]          # optional, 1-based; default all frames
func (d *decoder) pixelRules(n *yaml.Node) []pixelRule {
	if n.Kind != yaml.SequenceNode {
		d.problemf(n, "pixel_rules", "must be a list")
		return nil
	}
	if len(n.Content) > maxPixelRules {
		d.problemf(n, "pixel_rules", "more than %d rules", maxPixelRules)
	}
	var out []pixelRule
	names := map[string]int{}
	for i, rn := range n.Content {
		field := index("pixel_rules", i)
		before := len(d.problems)
		fs, ok := d.mapping(rn, field, []string{"name", "when", "regions", "frames"})
		if !ok {
			continue
		}
		r := pixelRule{line: rn.Line}
		if nn := fs.get("name"); nn == nil {
			d.problemf(rn, join(field, "name"), "missing required field")
		} else if s, ok := d.str(nn, join(field, "name")); ok {
			if !validID(s) {
				d.problemf(nn, join(field, "name"), "must be 1 to %d characters a-z, 0-9 and -, not starting with -", maxIDLen)
			} else if line, dup := names[s]; dup {
				d.problemf(nn, join(field, "name"), "name already used by the rule on line %d", line)
			}
			names[s] = rn.Line
			r.name = s
		}
		if wn := fs.get("when"); wn == nil {
			d.problemf(rn, join(field, "when"), "missing required field: a pixel rule must say which files it applies to")
		} else {
			r.when = d.conditions(wn, join(field, "when"))
		}
		if gn := fs.get("regions"); gn == nil {
			d.problemf(rn, join(field, "regions"), "missing required field")
		} else {
			r.regions = d.regions(gn, join(field, "regions"))
		}
		if fn := fs.get("frames"); fn != nil {
			r.frames = d.frames(fn, join(field, "frames"))
		}
		if len(d.problems) == before {
			out = append(out, r)
		}
	}
	return out
}

// regions parses a non-empty list of {x, y, w, h} rectangles.
func (d *decoder) regions(n *yaml.Node, field string) []anonymize.Rect {
	if n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
		d.problemf(n, field, "must be a non-empty list of {x, y, w, h}")
		return nil
	}
	if len(n.Content) > maxRegions {
		d.problemf(n, field, "more than %d regions", maxRegions)
	}
	var out []anonymize.Rect
	for i, gn := range n.Content {
		f := index(field, i)
		fs, ok := d.mapping(gn, f, []string{"x", "y", "w", "h"})
		if !ok {
			continue
		}
		var vals [4]int
		for j, k := range []string{"x", "y", "w", "h"} {
			v := fs.get(k)
			if v == nil {
				d.problemf(gn, join(f, k), "missing required field")
				continue
			}
			x, ok := d.integer(v, join(f, k))
			if !ok {
				continue
			}
			lo := 0
			if k == "w" || k == "h" {
				lo = 1
			}
			if x < lo || x > maxPixelCoord {
				d.problemf(v, join(f, k), "must be between %d and %d", lo, maxPixelCoord)
			}
			vals[j] = x
		}
		out = append(out, anonymize.Rect{X: vals[0], Y: vals[1], W: vals[2], H: vals[3]})
	}
	return out
}

// frames parses a non-empty list of 1-based frame numbers.
func (d *decoder) frames(n *yaml.Node, field string) []int {
	if n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
		d.problemf(n, field, "must be a non-empty list of frame numbers (1 is the first)")
		return nil
	}
	var out []int
	for i, fn := range n.Content {
		v, ok := d.integer(fn, index(field, i))
		if !ok {
			continue
		}
		if v < 1 || v > 1<<31-1 {
			d.problemf(fn, index(field, i), "frame numbers start at 1")
			continue
		}
		if slices.Contains(out, v) {
			d.problemf(fn, index(field, i), "frame listed twice")
			continue
		}
		out = append(out, v)
	}
	slices.Sort(out)
	return out
}

// risky parses the risky mapping: modalities and SOP classes that are
// quarantined unless a pixel rule cleans them.
func (d *decoder) risky(p *Policy, n *yaml.Node) {
	fs, _ := d.mapping(n, "risky", []string{"modalities", "sop_classes"})
	if v := fs.get("modalities"); v != nil {
		vals, nodes, _ := d.strs(v, "risky.modalities")
		for i, m := range vals {
			m = strings.TrimSpace(m)
			if m == "" || len(m) > 16 || strings.ToUpper(m) != m {
				d.problemf(nodes[i], index("risky.modalities", i), "must be an upper-case modality code such as US")
				continue
			}
			if slices.Contains(p.riskyModalities, m) {
				d.problemf(nodes[i], index("risky.modalities", i), "listed twice")
				continue
			}
			p.riskyModalities = append(p.riskyModalities, m)
		}
	}
	if v := fs.get("sop_classes"); v != nil {
		vals, nodes, _ := d.strs(v, "risky.sop_classes")
		for i, uid := range vals {
			uid = strings.TrimSpace(uid)
			if uid == "" || len(uid) > 64 || strings.Trim(uid, "0123456789.") != "" {
				d.problemf(nodes[i], index("risky.sop_classes", i), "must be a SOP class UID")
				continue
			}
			if slices.Contains(p.riskySOPClasses, uid) {
				d.problemf(nodes[i], index("risky.sop_classes", i), "listed twice")
				continue
			}
			p.riskySOPClasses = append(p.riskySOPClasses, uid)
		}
	}
}

// compilePixels copies the pixel settings into prof.
func (p *Policy) compilePixels(prof *anonymize.Profile, source string) {
	for _, r := range p.pixelRules {
		prof.PixelRules = append(prof.PixelRules, anonymize.PixelRule{
			Name:    r.name,
			When:    cloneConditions(r.when),
			Regions: slices.Clone(r.regions),
			Frames:  slices.Clone(r.frames),
			Source:  source + ":" + strconv.Itoa(r.line),
		})
	}
	prof.RiskyModalities = slices.Clone(p.riskyModalities)
	prof.RiskySOPClasses = slices.Clone(p.riskySOPClasses)
	prof.JPEGBaseline = anonymize.JPEGQuarantine
	prof.KeepEncapsulatedDocuments = p.keepDocuments
}

// canonicalPixelRule is a pixel rule in canonical form; rule order is
// kept (the first match wins).
type canonicalPixelRule struct {
	Name    string               `json:"name"`
	When    []canonicalCondition `json:"when"`
	Regions []anonymize.Rect     `json:"regions"`
	Frames  []int                `json:"frames"`
}

// canonicalPixels fills the pixel fields of c. They are left out when
// at their defaults, so policies without them keep their hash.
func (p *Policy) canonicalPixels(c *canonicalPolicy) {
	for _, r := range p.pixelRules {
		cr := canonicalPixelRule{Name: r.name, When: canonicalConditions(r.when), Regions: r.regions, Frames: r.frames}
		if cr.Frames == nil {
			cr.Frames = []int{}
		}
		c.PixelRules = append(c.PixelRules, cr)
	}
	c.RiskyModalities = slices.Sorted(slices.Values(p.riskyModalities))
	c.RiskySOPClasses = slices.Sorted(slices.Values(p.riskySOPClasses))
	if p.keepDocuments {
		c.EncapsulatedDocuments = "keep"
	}
}
