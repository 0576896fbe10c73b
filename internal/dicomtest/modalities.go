package dicomtest

// generalImage writes the General Image attributes shared by the MR, US and
// SC objects.
func (g *Generator) generalImage(b *builder, p *patient, imageType string) {
	b.str(0x00080008, imageType)
	b.str(0x00200020, "")
	b.plant(0x00080023, p.studyDate, ClassDate)
	b.plant(0x00080033, g.v.time(), ClassTime)
	b.plant(0x00080022, p.studyDate, ClassDate)
	b.plant(0x00080032, g.v.time(), ClassTime)
	b.str(0x00280301, "NO")
}

// mrObject builds an MR image with the SIEMENS MR HEADER private block.
func (g *Generator) mrObject(p *patient, s *series, uid, ts string, rows, cols int) *builder {
	b := g.newBuilder()
	g.header(b, p, s, MRImageStorage, uid, 1)
	g.generalImage(b, p, `ORIGINAL\PRIMARY\OTHER`)
	b.plant(0x00200052, g.v.uid(), ClassUID)
	b.str(0x00201040, "")
	b.str(0x00185100, "HFS")
	b.str(0x00200037, `1\0\0\0\1\0`)
	b.str(0x00200032, `-120\-120\10`)
	b.str(0x00280030, `0.9375\0.9375`)
	b.str(0x00180050, "5")
	b.str(0x00180020, "SE")
	b.str(0x00180021, "NONE")
	b.str(0x00180022, "")
	b.str(0x00180023, "2D")
	b.str(0x00180080, "500")
	b.str(0x00180081, "15")
	b.str(0x00180091, "1")
	b.str(0x00180087, "1.5")
	g.imagePixel(b, rows, cols, 2, "MONOCHROME2")
	b.ds.set(pixelData(phantom16(rows, cols, 7, g.seed), rows, cols, 2, ts))
	g.siemensPrivate(b)
	return b
}

// usObject builds an 8-bit ultrasound image.
func (g *Generator) usObject(p *patient, s *series, uid, ts string, rows, cols int) *builder {
	b := g.newBuilder()
	g.header(b, p, s, USImageStorage, uid, 1)
	g.generalImage(b, p, `ORIGINAL\PRIMARY\ABDOMINAL`)
	b.str(0x00282110, "00")
	g.imagePixel(b, rows, cols, 1, "MONOCHROME2")
	b.ds.set(pixelData(phantom8(rows, cols, 3), rows, cols, 1, ts))
	return b
}

// scObject builds an 8-bit Secondary Capture. With sink set it also carries
// every private block, the overlay, the curve, trailing padding and the
// sweep of Table E.1-1 attributes; otherwise it is labelled JPEG baseline
// when ts says so.
func (g *Generator) scObject(p *patient, s *series, uid, ts string, rows, cols int, sink bool) *builder {
	b := g.newBuilder()
	g.header(b, p, s, SecondaryCaptureStorage, uid, 1)
	g.generalImage(b, p, `DERIVED\SECONDARY`)
	b.str(0x00080064, "WSD")
	b.plant(0x00181012, p.studyDate, ClassDate)
	b.plant(0x00181014, g.v.time(), ClassTime)
	if ts == JPEGBaseline8Bit {
		b.str(0x00282110, "01")
	}
	g.imagePixel(b, rows, cols, 1, "MONOCHROME2")
	b.ds.set(pixelData(phantom8(rows, cols, 11), rows, cols, 1, ts))
	if sink {
		g.gemsPrivate(b)
		g.siemensPrivate(b)
		g.acmePrivate(b)
		g.overlay(b, rows, cols)
		g.curve(b)
		g.sweep(b, p)
		g.trailingPadding(b)
	}
	return b
}
