package dicomtest

import "strings"

// srItem starts a content item with a relationship, value type and concept
// name.
func srItem(ib *builder, rel, valueType, code, scheme, meaning string) {
	ib.str(0x0040A010, rel)
	ib.str(0x0040A040, valueType)
	ib.seq(0x0040A043, 1, func(_ int, cb *builder) { cb.code(code, scheme, meaning) })
}

// srObject builds a Comprehensive SR whose ContentSequence tree nests four
// levels deep, with TEXT, PNAME, DATE and UIDREF items.
func (g *Generator) srObject(p *patient, s *series, uid string) *builder {
	b := g.newBuilder()
	v := g.v
	g.header(b, p, s, ComprehensiveSRStorage, uid, 1)
	b.plant(0x00080023, p.studyDate, ClassDate)
	b.plant(0x00080033, v.time(), ClassTime)
	b.str(0x0040A491, "COMPLETE")
	b.str(0x0040A493, "VERIFIED")
	b.seq(0x0040A073, 1, func(_ int, ib *builder) {
		ib.plant(0x0040A075, p.reading, ClassName)
		ib.seq(0x0040A088, 0, nil)
		ib.plant(0x0040A027, p.institution, ClassInst)
		ib.plant(0x0040A030, p.studyDate+v.time(), ClassDate)
	})
	b.seq(0x0040A372, 0, nil)
	b.str(0x0040A040, "CONTAINER")
	b.seq(0x0040A043, 1, func(_ int, cb *builder) { cb.code("18748-4", "LN", "Diagnostic Imaging Report") })
	b.str(0x0040A050, "SEPARATE")
	b.seq(0x0040A730, 3, func(i int, l1 *builder) {
		switch i {
		case 0:
			srItem(l1, "HAS OBS CONTEXT", "PNAME", "121008", "DCM", "Person Observer Name")
			l1.plant(0x0040A123, p.reading, ClassName)
		case 1:
			srItem(l1, "CONTAINS", "CONTAINER", "121070", "DCM", "Findings")
			l1.str(0x0040A050, "SEPARATE")
			l1.seq(0x0040A730, 2, func(j int, l2 *builder) {
				if j == 0 {
					srItem(l2, "CONTAINS", "TEXT", "121071", "DCM", "Finding")
					l2.plant(0x0040A160, v.token("DESC")+" nodule seen by "+strings.ReplaceAll(p.referring, "^", " "), ClassDesc)
					return
				}
				srItem(l2, "CONTAINS", "CONTAINER", "111028", "DCM", "Image Library")
				l2.str(0x0040A050, "SEPARATE")
				l2.seq(0x0040A730, 4, func(k int, l3 *builder) {
					switch k {
					case 0:
						srItem(l3, "CONTAINS", "TEXT", "121071", "DCM", "Finding")
						l3.plant(0x0040A160, v.token("DESC"), ClassDesc)
					case 1:
						srItem(l3, "CONTAINS", "DATE", "111060", "DCM", "Study Date")
						l3.plant(0x0040A121, p.studyDate, ClassDate)
					case 2:
						srItem(l3, "CONTAINS", "UIDREF", "121018", "DCM", "Procedure Study Instance UID")
						l3.plant(0x0040A124, p.studyUID, ClassUID)
					default:
						srItem(l3, "CONTAINS", "CONTAINER", "121070", "DCM", "Findings")
						l3.str(0x0040A050, "SEPARATE")
						l3.seq(0x0040A730, 1, func(_ int, l4 *builder) {
							srItem(l4, "CONTAINS", "PNAME", "121008", "DCM", "Person Observer Name")
							l4.plant(0x0040A123, v.token("NAME"), ClassName)
						})
					}
				})
			})
		default:
			srItem(l1, "CONTAINS", "TEXT", "121073", "DCM", "Impression")
			l1.plant(0x0040A160, v.token("DESC")+" call "+p.phone, ClassDesc)
		}
	})
	return b
}
