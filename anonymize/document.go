package anonymize

import "strings"

// tagMIMETypeOfDocument is the MIME type of an encapsulated document.
const tagMIMETypeOfDocument = Tag(0x00420012)

// emptyCDA replaces an encapsulated HL7 CDA document.
const emptyCDA = `<?xml version="1.0" encoding="UTF-8"?><ClinicalDocument xmlns="urn:hl7-org:v3"/>`

// encapsulatedDocument is the dummy value of Encapsulated Document: the
// original under KeepEncapsulatedDocuments, else an empty document of the
// declared type (CDA for text/XML, PDF otherwise).
func (f *file) encapsulatedDocument(e *element) *element {
	if f.a.p.KeepEncapsulatedDocuments {
		return e
	}
	if strings.EqualFold(f.top.str(tagMIMETypeOfDocument), "text/XML") {
		return &element{tag: e.tag, vr: e.vr, value: []byte(emptyCDA)}
	}
	return &element{tag: e.tag, vr: e.vr, value: dummyPDF}
}
