package dicomtest

import (
	"fmt"
	"strings"
)

// sweepSkipped reports whether the sweep leaves attribute a alone: file
// meta and directory attributes (groups 0002 and 0004) do not belong in a
// data set, and sequences the profile dummies (D) need a structure of their
// own and are planted by the objects that use them.
func sweepSkipped(a profileAttr) bool {
	if a.tag>>16 < 0x0008 {
		return true
	}
	switch a.action {
	case "D", "Z/D":
		return a.vr == "SQ"
	}
	return a.tag == tagTrailingPad
}

// classOf guesses the class of a sweep attribute from its VR and keyword.
func classOf(vr, keyword string) string {
	has := func(words ...string) bool {
		for _, w := range words {
			if strings.Contains(keyword, w) {
				return true
			}
		}
		return false
	}
	switch {
	case vr == "PN":
		return ClassName
	case vr == "UI":
		return ClassUID
	case vr == "DA" || vr == "DT":
		return ClassDate
	case vr == "TM":
		return ClassTime
	case vr == "DS" || vr == "IS" || vr == "AS":
		return ClassNumber
	case has("Address"):
		return ClassAddress
	case has("Telephone", "Phone"):
		return ClassPhone
	case has("Institution", "Department"):
		return ClassInst
	case has("Station", "Device", "Serial", "Gantry", "Generator", "Plate", "Detector"):
		return ClassDevice
	case has("ID", "Number", "Identifier"):
		return ClassID
	case has("Description", "Comment", "Text", "Reason", "Label", "Note"):
		return ClassDesc
	}
	return ClassOther
}

// sweep plants a value in every attribute of Table E.1-1 that the data set
// does not hold yet and whose VR the generator can fill: all text VRs, dates
// and times, UIDs, numbers as strings, OB, and sequences (a coded item, or a
// referenced-instance item for the X/Z/U* ones).
func (g *Generator) sweep(b *builder, p *patient) {
	v := g.v
	for _, a := range profileTable() {
		if b.ds.has(a.tag) || sweepSkipped(a) {
			continue
		}
		class := classOf(a.vr, a.keyword)
		var val string
		switch a.vr {
		case "PN", "LO", "LT", "ST", "UT", "UC":
			val = v.token(class)
		case "SH":
			val = v.token(class)
		case "AE":
			val = v.token("AE")
		case "CS":
			val = v.csToken(class)
		case "UR":
			val = "https://example.org/" + v.token(class)
		case "UI":
			val = v.uid()
		case "DA":
			val = p.studyDate
		case "DT":
			val = p.studyDate + v.time()
		case "TM":
			val = v.time()
		case "DS":
			val = fmt.Sprintf("%d.%05d", 1+v.rng.IntN(900), v.rng.IntN(100000))
		case "IS":
			val = v.digits(7)
		case "AS":
			val = p.age
		case "OB":
			tok := v.token(class)
			b.plantRaw(a.tag, "OB", g.blob(32, tok), tok, class)
			continue
		case "SQ":
			g.sweepSequence(b, a)
			continue
		default:
			continue
		}
		b.plantVR(a.tag, a.vr, val, class, 0)
	}
}

// sweepSequence plants one item in sequence a.
func (g *Generator) sweepSequence(b *builder, a profileAttr) {
	v := g.v
	if strings.Contains(a.action, "U") {
		b.seq(a.tag, 1, func(_ int, ib *builder) {
			ib.str(0x00081150, CTImageStorage)
			ib.plant(0x00081155, v.uid(), ClassUID)
		})
		return
	}
	b.seq(a.tag, 1, func(_ int, ib *builder) {
		ib.plant(0x00080100, v.token("CODE"), ClassCode)
		ib.str(0x00080102, "99PHI")
		ib.plant(0x00080104, v.token("DESC"), ClassDesc)
	})
}
