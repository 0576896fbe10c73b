package dicomtest

import (
	"fmt"
	"strings"
)

// fakePDF returns a small well-formed-looking PDF whose page text holds the
// given lines.
func fakePDF(lines ...string) []byte {
	var content strings.Builder
	content.WriteString("BT /F1 12 Tf 72 720 Td ")
	for _, l := range lines {
		fmt.Fprintf(&content, "(%s) Tj 0 -16 Td ", l)
	}
	content.WriteString("ET")
	c := content.String()
	return []byte(fmt.Sprintf("%%PDF-1.4\n"+
		"1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"+
		"2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj\n"+
		"3 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >> endobj\n"+
		"4 0 obj << /Length %d >> stream\n%s\nendstream endobj\n"+
		"trailer << /Root 1 0 R >>\n%%%%EOF\n", len(c), c))
}

// pdfObject builds an Encapsulated PDF whose document text carries a token
// and the patient's name.
func (g *Generator) pdfObject(p *patient, s *series, uid string) *builder {
	b := g.newBuilder()
	v := g.v
	g.header(b, p, s, EncapsulatedPDFStorage, uid, 1)
	b.str(0x00080064, "WSD")
	b.plant(0x00080023, p.studyDate, ClassDate)
	b.plant(0x00080033, v.time(), ClassTime)
	b.plant(0x0008002A, p.studyDate+v.time(), ClassDate)
	b.str(0x00280301, "YES")
	b.str(0x00420010, "Referral letter")
	b.seq(0x0040A043, 0, nil)
	b.str(0x00420012, "application/pdf")
	tok := v.token("DOC")
	doc := fakePDF("Referral "+tok, "Patient: "+strings.ReplaceAll(p.name, "^", " "))
	b.plantRaw(0x00420011, "OB", doc, tok, ClassDesc)
	b.record(0x00420011, p.name, ClassName, 0)
	b.num(0x00420015, int64(len(doc)+len(doc)%2))
	return b
}
