package dicomtest

import "fmt"

// CorpusOptions sizes a corpus. The zero value gives one patient with four
// 16×16 CT slices and every extra object.
type CorpusOptions struct {
	// Patients is the number of fake patients, one study each. Default 1.
	Patients int
	// Slices is the number of CT slices per study, besides the localizer.
	// Default 4.
	Slices int
	// Rows and Cols size the CT and MR images; US and SC images are the same
	// size. Default 16; values below 16 are raised to 16.
	Rows, Cols int
	// TransferSyntaxes are assigned to files in turn. Objects without pixel
	// data get explicit VR little endian instead of an encapsulated syntax.
	// Default [AllTransferSyntaxes].
	TransferSyntaxes []string
	// NoExtras leaves out the SR, GSPS, PDF, MR, US and JPEG-labelled SC
	// objects; the localizer, the slices and the SC "kitchen sink" remain.
	NoExtras bool
}

// withDefaults fills unset fields.
func (o CorpusOptions) withDefaults() CorpusOptions {
	if o.Patients <= 0 {
		o.Patients = 1
	}
	if o.Slices <= 0 {
		o.Slices = 4
	}
	o.Rows, o.Cols = max(o.Rows, 16), max(o.Cols, 16)
	if len(o.TransferSyntaxes) == 0 {
		o.TransferSyntaxes = AllTransferSyntaxes()
	}
	return o
}

// corpusRun carries the state of one Corpus call.
type corpusRun struct {
	g     *Generator
	opts  CorpusOptions
	files []File
	key   *Key
	n     int // files so far, for the transfer syntax rotation
}

// syntax returns the next transfer syntax of the rotation.
func (r *corpusRun) syntax(hasPixels bool) string {
	ts := r.opts.TransferSyntaxes[r.n%len(r.opts.TransferSyntaxes)]
	r.n++
	if !hasPixels && encapsulated(ts) {
		return ExplicitVRLittleEndian
	}
	return ts
}

// add encodes b and appends the file and its planted values.
func (r *corpusRun) add(b *builder, p *patient, info FileInfo) error {
	f, recs, err := r.g.finish(b, p, info)
	if err != nil {
		return err
	}
	r.files = append(r.files, f)
	r.key.Files = append(r.key.Files, info)
	r.key.add(f.Name, recs)
	return nil
}

// Corpus generates one study per patient and the answer key. It fails only
// on an unsupported transfer syntax.
func (g *Generator) Corpus(opts CorpusOptions) ([]File, *Key, error) {
	opts = opts.withDefaults()
	for _, ts := range opts.TransferSyntaxes {
		if !knownSyntax(ts) {
			return nil, nil, fmt.Errorf("dicomtest: unsupported transfer syntax %s", ts)
		}
	}
	r := &corpusRun{g: g, opts: opts, key: &Key{Seed: g.seed}}
	for i := range opts.Patients {
		if err := r.study(g.newPatient(i)); err != nil {
			return nil, nil, err
		}
	}
	return r.files, r.key, nil
}

// study generates the files of patient p.
func (r *corpusRun) study(p *patient) error {
	g, o := r.g, r.opts
	dir := fmt.Sprintf("p%02d/", p.index+1)
	cs := g.newCTSeries(p, o.Rows, o.Cols)
	ts := r.syntax(true)
	b := g.ctImage(p, cs, -1, cs.localizerUID, ts, false)
	if err := r.add(b, p, fileInfo(dir+"ct/localizer.dcm", p, cs.localizer, CTImageStorage, cs.localizerUID, ts)); err != nil {
		return err
	}
	var firstSlice string
	for i := range o.Slices {
		uid := g.v.uid()
		if i == 0 {
			firstSlice = uid
		}
		ts := r.syntax(true)
		b := g.ctImage(p, cs, i, uid, ts, i%2 == 0)
		if err := r.add(b, p, fileInfo(fmt.Sprintf("%sct/slice_%04d.dcm", dir, i+1), p, cs.s, CTImageStorage, uid, ts)); err != nil {
			return err
		}
	}
	type object struct {
		name, class, modality string
		pixels                bool
		build                 func(s *series, uid, ts string) *builder
	}
	objs := []object{{"sc_sink.dcm", SecondaryCaptureStorage, "OT", true, func(s *series, uid, ts string) *builder {
		return g.scObject(p, s, uid, ts, o.Rows, o.Cols, true)
	}}}
	if !o.NoExtras {
		objs = append(objs,
			object{"sr.dcm", ComprehensiveSRStorage, "SR", false, func(s *series, uid, _ string) *builder {
				return g.srObject(p, s, uid)
			}},
			object{"gsps.dcm", GrayscaleSoftcopyPSStorage, "PR", false, func(s *series, uid, _ string) *builder {
				return g.gspsObject(p, s, uid, cs, firstSlice)
			}},
			object{"pdf.dcm", EncapsulatedPDFStorage, "DOC", false, func(s *series, uid, _ string) *builder {
				return g.pdfObject(p, s, uid)
			}},
			object{"mr.dcm", MRImageStorage, "MR", true, func(s *series, uid, ts string) *builder {
				return g.mrObject(p, s, uid, ts, o.Rows, o.Cols)
			}},
			object{"us.dcm", USImageStorage, "US", true, func(s *series, uid, ts string) *builder {
				return g.usObject(p, s, uid, ts, o.Rows, o.Cols)
			}},
			object{"sc_jpeg.dcm", SecondaryCaptureStorage, "OT", false, func(s *series, uid, _ string) *builder {
				return g.scObject(p, s, uid, JPEGBaseline8Bit, o.Rows, o.Cols, false)
			}},
		)
	}
	for i, ob := range objs {
		s := g.newSeries(p, ob.modality, 10+i)
		uid := g.v.uid()
		ts := r.syntax(ob.pixels)
		if ob.name == "sc_jpeg.dcm" {
			ts = JPEGBaseline8Bit
		}
		if err := r.add(ob.build(s, uid, ts), p, fileInfo(dir+ob.name, p, s, ob.class, uid, ts)); err != nil {
			return err
		}
	}
	return nil
}

// SliceOptions shapes [Generator.CTSlice] output.
type SliceOptions struct {
	// Rows and Cols default to 512.
	Rows, Cols int
	// TransferSyntax defaults to explicit VR little endian.
	TransferSyntax string
}

// benchSeries is the CT series CTSlice appends to.
type benchSeries struct {
	p          *patient
	cs         *ctSeries
	rows, cols int
	next       int
}

// CTSlice returns the next slice of one CT series of one patient, with the
// full header (planted values, no private blocks). Successive calls return
// successive slices; a change of size starts a new series.
func (g *Generator) CTSlice(opts SliceOptions) ([]byte, error) {
	if opts.Rows <= 0 {
		opts.Rows = 512
	}
	if opts.Cols <= 0 {
		opts.Cols = 512
	}
	if opts.TransferSyntax == "" {
		opts.TransferSyntax = ExplicitVRLittleEndian
	}
	bs := g.bench
	if bs == nil || bs.rows != opts.Rows || bs.cols != opts.Cols {
		p := g.newPatient(0)
		bs = &benchSeries{p: p, cs: g.newCTSeries(p, opts.Rows, opts.Cols), rows: opts.Rows, cols: opts.Cols}
		g.bench = bs
	}
	i := bs.next
	bs.next++
	b := g.ctImage(bs.p, bs.cs, i, g.v.uid(), opts.TransferSyntax, false)
	data, err := encodeFile(b.ds, opts.TransferSyntax, bs.p.sourceAE)
	if err != nil {
		return nil, fmt.Errorf("dicomtest: ct slice: %w", err)
	}
	return data, nil
}
