package dicomtest

import "strconv"

// SOP Class UIDs of the generated objects.
const (
	CTImageStorage             = "1.2.840.10008.5.1.4.1.1.2"
	MRImageStorage             = "1.2.840.10008.5.1.4.1.1.4"
	USImageStorage             = "1.2.840.10008.5.1.4.1.1.6.1"
	SecondaryCaptureStorage    = "1.2.840.10008.5.1.4.1.1.7"
	GrayscaleSoftcopyPSStorage = "1.2.840.10008.5.1.4.1.1.11.1"
	ComprehensiveSRStorage     = "1.2.840.10008.5.1.4.1.1.88.33"
	EncapsulatedPDFStorage     = "1.2.840.10008.5.1.4.1.1.104.1"
)

// SOP classes referenced from inside objects.
const (
	studyComponentClass = "1.2.840.10008.3.1.2.3.1" // Detached Study Management (retired)
	mppsClass           = "1.2.840.10008.3.1.2.3.3" // Modality Performed Procedure Step
)

// identCodeItem fills a person identification sequence item.
func identCodeItem(ib *builder) {
	v := ib.g.v
	ib.seq(0x00401101, 1, func(_ int, cb *builder) {
		cb.str(0x00080100, v.token("CODE"))
		cb.str(0x00080102, "99PHI")
		cb.plant(0x00080104, v.token("NAME"), ClassName)
	})
	ib.plant(0x00080080, v.token("INST"), ClassInst)
	ib.plant(0x00401102, v.address(), ClassAddress)
	ib.plant(0x00401103, v.phone(), ClassPhone)
}

// patientModule writes the Patient and Patient Study modules.
func (g *Generator) patientModule(b *builder, p *patient) {
	v := g.v
	b.plant(0x00100010, p.name, ClassName)
	b.plant(0x00100020, p.id, ClassID)
	b.plant(0x00100021, p.issuer, ClassID)
	b.plant(0x00100030, p.birth, ClassDate)
	b.str(0x00100040, p.sex)
	b.record(0x00100040, p.sex, ClassOther, 0)
	b.plant(0x00101000, p.otherID, ClassID)
	b.plant(0x00101001, p.otherName, ClassName)
	b.seq(0x00101002, 2, func(i int, ib *builder) {
		ib.plant(0x00100020, p.otherID+"-"+strconv.Itoa(i), ClassID)
		ib.plant(0x00100021, p.issuer, ClassID)
		ib.str(0x00100022, "TEXT")
	})
	b.plant(0x00101040, p.address, ClassAddress)
	b.plant(0x00102154, p.phone, ClassPhone)
	b.plant(0x00102160, v.token("OTHER"), ClassOther)
	b.plant(0x00102180, v.token("DESC"), ClassDesc)
	b.plant(0x001021B0, v.token("DESC")+" history of fall at home", ClassDesc)
	b.plant(0x00104000, v.token("DESC")+" patient comment", ClassDesc)
	b.str(0x00101010, p.age)
	b.record(0x00101010, p.age, ClassNumber, 0)
	b.plant(0x00101020, p.size, ClassNumber)
	b.plant(0x00101030, p.weight, ClassNumber)
}

// studyModule writes the General Study module.
func (g *Generator) studyModule(b *builder, p *patient) {
	b.plant(0x0020000D, p.studyUID, ClassUID)
	b.plant(0x00080020, p.studyDate, ClassDate)
	b.plant(0x00080030, p.studyTime, ClassTime)
	b.plant(0x00080090, p.referring, ClassName)
	b.seq(0x00080096, 1, func(_ int, ib *builder) { identCodeItem(ib) })
	b.plant(0x00200010, p.studyID, ClassID)
	b.plant(0x00080050, p.accession, ClassID)
	b.plant(0x00081030, p.studyDesc, ClassDesc)
	b.plant(0x00081048, p.referring, ClassName)
	b.plant(0x00081060, p.reading, ClassName)
	b.seq(0x00081062, 1, func(_ int, ib *builder) { identCodeItem(ib) })
}

// seriesModule writes the General Series module, with the request
// attributes and performed procedure step attributes.
func (g *Generator) seriesModule(b *builder, p *patient, s *series) {
	v := g.v
	b.str(0x00080060, s.modality)
	b.str(0x00200060, "")
	b.plant(0x0020000E, s.uid, ClassUID)
	b.str(0x00200011, strconv.Itoa(s.number))
	b.plant(0x00080021, s.date, ClassDate)
	b.plant(0x00080031, s.time, ClassTime)
	b.plant(0x0008103E, s.desc, ClassDesc)
	b.plant(0x00181030, v.token("DESC"), ClassDesc)
	b.plant(0x00081050, p.performing, ClassName)
	b.seq(0x00081052, 1, func(_ int, ib *builder) { identCodeItem(ib) })
	b.plant(0x00081070, p.oper, ClassName)
	b.seq(0x00081072, 1, func(_ int, ib *builder) { identCodeItem(ib) })
	b.plant(0x00400244, p.studyDate, ClassDate)
	b.plant(0x00400245, s.time, ClassTime)
	b.plant(0x00400253, v.token("ID"), ClassID)
	b.plant(0x00400254, v.token("DESC"), ClassDesc)
	b.seq(0x00081111, 1, func(_ int, ib *builder) {
		ib.str(0x00081150, mppsClass)
		ib.plant(0x00081155, v.uid(), ClassUID)
	})
	g.requestAttributes(b, p)
}

// requestAttributes writes RequestAttributesSequence with a nested
// ReferencedStudySequence and a private element.
func (g *Generator) requestAttributes(b *builder, p *patient) {
	v := g.v
	b.seq(0x00400275, 1, func(_ int, ib *builder) {
		ib.plant(0x00080050, p.accession, ClassID)
		ib.plant(0x00401001, p.requestedProcID, ClassID)
		ib.plant(0x00321060, v.token("DESC"), ClassDesc)
		ib.plant(0x00400009, v.token("ID"), ClassID)
		ib.plant(0x00400007, v.token("DESC"), ClassDesc)
		ib.plant(0x0020000D, p.studyUID, ClassUID)
		ib.seq(0x00081110, 1, func(_ int, rb *builder) {
			rb.str(0x00081150, studyComponentClass)
			rb.plant(0x00081155, p.requestedUID, ClassUID)
		})
		ib.strVR(0x00110010, "LO", "ACME_SECRET_1.0")
		ib.plantVR(0x00111001, "LO", v.token("PRIV"), ClassPrivate, 0)
	})
}

// equipmentModule writes the General Equipment module.
func (g *Generator) equipmentModule(b *builder, p *patient) {
	v := g.v
	b.str(0x00080070, "DICOMTEST Medical")
	b.plant(0x00080080, p.institution, ClassInst)
	b.plant(0x00080081, p.instAddress, ClassAddress)
	b.seq(0x00080082, 1, func(_ int, ib *builder) {
		ib.str(0x00080100, v.token("CODE"))
		ib.str(0x00080102, "99PHI")
		ib.plant(0x00080104, p.institution, ClassInst)
	})
	b.plant(0x00081010, p.station, ClassDevice)
	b.plant(0x00081040, p.department, ClassInst)
	b.str(0x00081090, "SynthScan 9000")
	b.plant(0x00181000, p.serial, ClassDevice)
	b.plant(0x00181002, p.deviceUID, ClassUID)
	b.str(0x00181020, "dicomtest 1.0")
	b.plant(0x00181200, v.date(2003, 2020), ClassDate)
	b.plant(0x00181201, v.time(), ClassTime)
}

// sopCommon writes the SOP Common module and the instance number.
func (g *Generator) sopCommon(b *builder, p *patient, class, uid string, number int) {
	b.str(0x00080005, "ISO_IR 192")
	b.str(0x00080016, class)
	b.plant(0x00080018, uid, ClassUID)
	b.plant(0x00080012, p.studyDate, ClassDate)
	b.plant(0x00080013, g.v.time(), ClassTime)
	b.plant(0x00080014, g.v.uid(), ClassUID)
	b.plant(0x00080201, "+0100", ClassOther)
	b.str(0x00200013, strconv.Itoa(number))
}

// header writes the modules every object of patient p carries.
func (g *Generator) header(b *builder, p *patient, s *series, class, uid string, number int) {
	g.sopCommon(b, p, class, uid, number)
	g.patientModule(b, p)
	g.studyModule(b, p)
	g.seriesModule(b, p, s)
	g.equipmentModule(b, p)
}
