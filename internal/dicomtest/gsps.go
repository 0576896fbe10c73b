package dicomtest

// gspsObject builds a Grayscale Softcopy Presentation State that annotates
// CT slice refUID of series ref with planted text.
func (g *Generator) gspsObject(p *patient, s *series, uid string, ref *ctSeries, refUID string) *builder {
	b := g.newBuilder()
	v := g.v
	g.header(b, p, s, GrayscaleSoftcopyPSStorage, uid, 1)
	b.str(0x00700080, "ANNOTATION")
	b.str(0x00700081, "Synthetic annotation")
	b.plant(0x00700082, p.studyDate, ClassDate)
	b.plant(0x00700083, v.time(), ClassTime)
	b.plant(0x00700084, v.token("NAME"), ClassName)
	refImage := func(ib *builder) {
		ib.seq(0x00081140, 1, func(_ int, rb *builder) {
			rb.str(0x00081150, CTImageStorage)
			rb.plant(0x00081155, refUID, ClassUID)
		})
	}
	b.seq(0x00081115, 1, func(_ int, ib *builder) {
		ib.plant(0x0020000E, ref.s.uid, ClassUID)
		refImage(ib)
	})
	b.seq(0x0070005A, 1, func(_ int, ib *builder) {
		ib.numVR(0x00700052, "SL", 1, 1)
		ib.numVR(0x00700053, "SL", int64(ref.cols), int64(ref.rows))
		ib.str(0x00700100, "SCALE TO FIT")
		ib.str(0x00700102, `1\1`)
	})
	b.seq(0x00700001, 1, func(_ int, ib *builder) {
		refImage(ib)
		ib.str(0x00700002, "LAYER1")
		ib.seq(0x00700008, 2, func(i int, tb *builder) {
			tb.str(0x00700003, "PIXEL")
			text := v.token("DESC") + " " + p.name
			if i == 1 {
				text = "MRN " + p.id
			}
			tb.plant(0x00700006, text, ClassDesc)
			tb.ds.set(element{tag: 0x00700010, vr: "FL", floats: []float64{1, 1}})
			tb.ds.set(element{tag: 0x00700011, vr: "FL", floats: []float64{float64(ref.cols - 1), 4}})
			tb.str(0x00700012, "LEFT")
		})
	})
	b.seq(0x00700060, 1, func(_ int, ib *builder) {
		ib.str(0x00700002, "LAYER1")
		ib.str(0x00700062, "1")
		ib.str(0x00700068, "text layer")
	})
	b.str(0x00700041, "N")
	b.num(0x00700042, 0)
	b.str(0x20500020, "IDENTITY")
	return b
}
