package anonymize

import (
	"fmt"
	"sort"
	"strings"
)

// scope is the context an attribute is processed in: inside a sequence
// the profile says to dummy (D) or clean (C), attributes the table does not
// list are still treated as identifying.
type scope int

const (
	scopeNormal scope = iota
	scopeDummy
	scopeClean
)

// file is the state of one Anonymize call.
type file struct {
	a         *Anonymizer
	syn       syntax
	top       *dataset // the original top-level data set (conditions read it)
	report    *Report
	tally     *tally
	shift     int // days dates move back, per patient
	timeShift int // minutes times of day move, per patient
	scrub     *scrubber
	pix       *pixelPlan // set when a pixel rule cleans the pixel data
	// origDates holds the file's original date-like values, collected
	// when the first date is shifted (see shiftedDate).
	origDates []string
	datesRead bool
}

func (a *Anonymizer) newFile(top *dataset, syn syntax) *file {
	f := &file{a: a, syn: syn, top: top, tally: newTally()}
	f.report = &Report{
		PolicyID: a.p.ID, PolicyVersion: a.p.Version, PolicyHash: a.p.Hash,
		TransferSyntax: syn.uid,
	}
	for _, c := range a.codes {
		f.report.Options = append(f.report.Options, c.value)
	}
	f.shift = a.ps.shiftDays(top.str(tagPatientID))
	f.timeShift = a.ps.shiftMinutes(top.str(tagPatientID))
	return f
}

// admit applies the policy's file filters and the burned-in annotation
// rule. Burned-in annotation is a pixel matter: a file without pixel data
// (an encapsulated document, whose document the profile replaces) is not
// held back by it.
func (f *file) admit(hasPixels bool) error {
	p := f.a.p
	hasAccept := false
	for _, flt := range p.Filters {
		if flt.Action == FilterAccept {
			hasAccept = true
		}
		if !f.holds(flt.When) {
			continue
		}
		if flt.Action == FilterReject {
			reason := flt.Reason
			if reason == "" {
				reason = "a reject filter matched"
			}
			return quarantine(ErrRejected, "%s", reason)
		}
		hasAccept = false
		break
	}
	if hasAccept {
		return quarantine(ErrRejected, "no accept filter matched")
	}
	return f.admitPixels(hasPixels)
}

// holds reports whether every condition holds on the original top level.
func (f *file) holds(conds []Condition) bool {
	for _, c := range conds {
		e := f.top.find(c.Tag)
		switch c.Op {
		case OpPresent:
			if e == nil {
				return false
			}
		case OpAbsent:
			if e != nil {
				return false
			}
		case OpEquals:
			if e == nil || !f.anyValue(e, func(v string) bool { return v == c.Value }) {
				return false
			}
		case OpIn:
			if e == nil || !f.anyValue(e, func(v string) bool {
				for _, w := range c.Values {
					if v == w {
						return true
					}
				}
				return false
			}) {
				return false
			}
		case OpMatches:
			if e == nil || c.Regex == nil || !(c.Regex.MatchString(e.str()) || f.anyValue(e, c.Regex.MatchString)) {
				return false
			}
		default:
			return false
		}
	}
	return true
}

func anyValue(e *element, fn func(string) bool) bool {
	if !isStringVR(e.vr) {
		return false
	}
	for _, v := range e.strs() {
		if fn(v) {
			return true
		}
	}
	return false
}

func (f *file) processTop(ds *dataset) (*dataset, error) {
	return f.process(ds, scopeNormal, "", 0)
}

// process returns the anonymised copy of ds.
func (f *file) process(ds *dataset, sc scope, path string, depth int) (*dataset, error) {
	out := &dataset{elems: make([]*element, 0, len(ds.elems))}
	// Private creators of this data set, by (group, block).
	creators := map[uint32]string{}
	for _, e := range ds.elems {
		if isCreator(e.tag) {
			creators[uint32(e.tag.Group())<<8|uint32(e.tag.Element())] = e.str()
		}
	}
	keptBlocks := map[uint32]bool{}
	overlayGone := f.overlayRemoved()
	for _, e := range ds.elems {
		t := e.tag
		switch {
		case t.Element() == 0:
			f.count(e, "", "X")
			continue // group lengths are retired; never needed
		case isCreator(t):
			continue // decided below, once its block's elements are
		}
		creator := ""
		if t.IsPrivate() {
			creator = creators[privateBlock(t)]
		}
		act, rule := f.resolve(e, creator, sc, overlayGone)
		ne, err := f.apply(e, act, rule, sc, path, depth)
		if err != nil {
			return nil, err
		}
		f.count(e, creator, actionName(act, rule))
		f.traceOne(path, e, ne, actionName(act, rule))
		if ne == nil {
			continue
		}
		if t.IsPrivate() {
			keptBlocks[privateBlock(t)] = true
		}
		out.elems = append(out.elems, ne)
	}
	for _, e := range ds.elems {
		if !isCreator(e.tag) {
			continue
		}
		key := uint32(e.tag.Group())<<8 | uint32(e.tag.Element())
		if keptBlocks[key] {
			out.elems = append(out.elems, e)
			f.count(e, "", "K")
		} else {
			f.count(e, "", "X")
		}
	}
	sort.SliceStable(out.elems, func(i, j int) bool { return out.elems[i].tag < out.elems[j].tag })
	fixup(out)
	return out, nil
}

func isCreator(t Tag) bool {
	return t.IsPrivate() && t.Element() >= 0x10 && t.Element() <= 0xFF
}

// privateBlock is the (group, block) key of a private data element.
func privateBlock(t Tag) uint32 {
	return uint32(t.Group())<<8 | uint32(t.Element()>>8)
}

func (f *file) count(e *element, creator, action string) {
	key := e.tag.String()
	if creator != "" {
		key = fmt.Sprintf("(%04X,{%s}%02X)", e.tag.Group(), creator, e.tag.Element()&0xFF)
	}
	f.tally.add(key, Keyword(e.tag), action)
}

func (f *file) traceOne(path string, old, ne *element, action string) {
	if f.a.trace == nil {
		return
	}
	tr := Trace{Path: joinPath(path, old.tag), Tag: old.tag, VR: old.vr, Action: action, Removed: ne == nil}
	if old.vr != "SQ" {
		tr.Original = displayValue(old)
		if ne != nil {
			tr.New = displayValue(ne)
		}
	}
	f.a.trace(tr)
}

func displayValue(e *element) string {
	if isStringVR(e.vr) {
		return e.str()
	}
	return fmt.Sprintf("<%d bytes>", len(e.value))
}

func joinPath(path string, t Tag) string {
	name := Keyword(t)
	if name == "" {
		name = t.String()
	}
	if path == "" {
		return name
	}
	return path + "." + name
}

// overlayRemoved reports whether overlay planes are dropped as a whole: PS3.15
// removes Overlay Data and Overlay Comments, and an overlay plane without its
// data would be invalid.
func (f *file) overlayRemoved() bool {
	return !strings.HasPrefix(overlayDataEntry().action(f.a.p.Options), "K")
}
