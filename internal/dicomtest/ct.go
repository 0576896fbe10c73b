package dicomtest

import (
	"fmt"
	"strconv"
)

// ctSeries holds what the slices of one CT series share.
type ctSeries struct {
	s              *series
	localizer      *series
	localizerUID   string
	irradiationUID string
	acqTime        string
	rows, cols     int
}

// newCTSeries draws a CT series (and its localizer series) for p.
func (g *Generator) newCTSeries(p *patient, rows, cols int) *ctSeries {
	return &ctSeries{
		s:              g.newSeries(p, "CT", 2),
		localizer:      g.newSeries(p, "CT", 1),
		localizerUID:   g.v.uid(),
		irradiationUID: g.v.uid(),
		acqTime:        g.v.time(),
		rows:           rows,
		cols:           cols,
	}
}

// ctImage builds a CT image: the localizer when index < 0, else slice
// number index. Slices reference the localizer. heavy adds the private
// blocks, overlay, curve and trailing padding.
func (g *Generator) ctImage(p *patient, cs *ctSeries, index int, uid, ts string, heavy bool) *builder {
	b := g.newBuilder()
	v := g.v
	s, number := cs.s, index+1
	imageType := `ORIGINAL\PRIMARY\AXIAL`
	if index < 0 {
		s, number, imageType = cs.localizer, 1, `ORIGINAL\PRIMARY\LOCALIZER`
	}
	g.header(b, p, s, CTImageStorage, uid, number)
	b.str(0x00080008, imageType)
	b.str(0x00200012, "1")
	b.plant(0x00080022, p.studyDate, ClassDate)
	b.plant(0x00080032, cs.acqTime, ClassTime)
	b.plant(0x0008002A, p.studyDate+cs.acqTime, ClassDate)
	b.plant(0x00080023, p.studyDate, ClassDate)
	b.plant(0x00080033, v.time(), ClassTime)
	b.plant(0x00083010, cs.irradiationUID, ClassUID)
	b.plant(0x00200052, p.forUID, ClassUID)
	b.str(0x00201040, "")
	b.str(0x00185100, "HFS")
	b.str(0x00200020, `L\P`)
	z := float64(index) * 2.5
	if index < 0 {
		b.str(0x00200037, `1\0\0\0\0\-1`)
		b.str(0x00200032, fmt.Sprintf(`-250\0\%g`, 100.0))
	} else {
		b.str(0x00200037, `1\0\0\0\1\0`)
		b.str(0x00200032, fmt.Sprintf(`-250\-250\%g`, -z))
		b.str(0x00201041, strconv.FormatFloat(-z, 'f', 1, 64))
		b.seq(0x00081140, 1, func(_ int, ib *builder) {
			ib.str(0x00081150, CTImageStorage)
			ib.plant(0x00081155, cs.localizerUID, ClassUID)
		})
	}
	b.str(0x00280030, `0.9765625\0.9765625`)
	b.str(0x00180050, "2.5")
	b.str(0x00180060, "120")
	b.str(0x00280301, "NO")
	g.imagePixel(b, cs.rows, cs.cols, 2, "MONOCHROME2")
	b.str(0x00281052, "-1024")
	b.str(0x00281053, "1")
	b.str(0x00281054, "HU")
	b.str(0x00281050, "40")
	b.str(0x00281051, "400")
	b.plant(0x00204000, v.token("DESC")+" contrast given", ClassDesc)
	b.ds.set(pixelData(phantom16(cs.rows, cs.cols, index, g.seed), cs.rows, cs.cols, 2, ts))
	if heavy {
		g.gemsPrivate(b)
		g.acmePrivate(b)
		g.overlay(b, cs.rows, cs.cols)
		g.curve(b)
		g.trailingPadding(b)
	}
	return b
}

// imagePixel writes the Image Pixel module attributes other than PixelData.
func (g *Generator) imagePixel(b *builder, rows, cols, bytesPerSample int, photometric string) {
	b.num(0x00280002, 1)
	b.str(0x00280004, photometric)
	b.num(0x00280010, int64(rows))
	b.num(0x00280011, int64(cols))
	if bytesPerSample == 2 {
		b.num(0x00280100, 16)
		b.num(0x00280101, 12)
		b.num(0x00280102, 11)
	} else {
		b.num(0x00280100, 8)
		b.num(0x00280101, 8)
		b.num(0x00280102, 7)
	}
	b.num(0x00280103, 0)
}
