package anonymize

import (
	"bufio"
	"compress/flate"
	"context"
	"errors"
	"fmt"
	"io"
)

// Well-known attributes the engine reads or writes.
const (
	tagSpecificCharacterSet   = Tag(0x00080005)
	tagTimezoneOffset         = Tag(0x00080201)
	tagSOPClassUID            = Tag(0x00080016)
	tagSOPInstanceUID         = Tag(0x00080018)
	tagModality               = Tag(0x00080060)
	tagPatientName            = Tag(0x00100010)
	tagPatientID              = Tag(0x00100020)
	tagStudyInstanceUID       = Tag(0x0020000D)
	tagSeriesInstanceUID      = Tag(0x0020000E)
	tagPatientIdentityRemoved = Tag(0x00120062)
	tagDeidentMethod          = Tag(0x00120063)
	tagDeidentMethodCodeSeq   = Tag(0x00120064)
	tagBurnedInAnnotation     = Tag(0x00280301)
	tagLongitudinalModified   = Tag(0x00280303)
	tagEncapsulatedDocument   = Tag(0x00420011)
	tagCodeValue              = Tag(0x00080100)
	tagCodingSchemeDesignator = Tag(0x00080102)
	tagCodeMeaning            = Tag(0x00080104)
)

// Recorder receives original → pseudonym pairs when the user asks for a
// re-identification map. It is the only way original values leave the
// engine; implementations must keep them at the site.
type Recorder interface {
	RecordUID(original, replacement string)
	RecordPatientID(original, replacement string)
}

// Trace describes what happened to one attribute, for `policy test`.
type Trace struct {
	Path     string // e.g. "ReferencedImageSequence[0].ReferencedSOPInstanceUID"
	Tag      Tag
	VR       string
	Action   string
	Original string // the original value (callers mask it unless asked)
	New      string // the new value ("" when removed)
	Removed  bool
}

// Option configures an [Anonymizer].
type Option func(*Anonymizer)

// WithRecorder makes the engine report every UID and patient ID mapping.
func WithRecorder(r Recorder) Option { return func(a *Anonymizer) { a.rec = r } }

// WithTrace calls fn for every top-level and nested attribute processed.
func WithTrace(fn func(Trace)) Option { return func(a *Anonymizer) { a.trace = fn } }

// Anonymizer applies a [Profile] to DICOM files. It is safe for concurrent
// use by several goroutines (unless its Recorder or trace function is not).
type Anonymizer struct {
	p     *Profile
	ps    pseudonyms
	rec   Recorder
	trace func(Trace)
	codes []methodCode
	text  *textPatterns
}

// New checks the profile and returns an Anonymizer.
func New(p *Profile, opts ...Option) (*Anonymizer, error) {
	if p == nil {
		return nil, errors.New("anonymize: nil profile")
	}
	if len(p.Secret) < 16 {
		return nil, errors.New("anonymize: the secret must be at least 16 bytes")
	}
	if p.Options.RetainLongitudinalFullDates && p.Options.RetainLongitudinalModifiedDates {
		return nil, errors.New("anonymize: full dates and modified dates options are mutually exclusive")
	}
	for i, r := range p.Rules {
		if r.Action == ActRegex && r.Regex == nil {
			return nil, fmt.Errorf("anonymize: rule %d: regex action without a pattern", i)
		}
		if r.Action == ActLookup && r.Table == nil {
			return nil, fmt.Errorf("anonymize: rule %d: lookup action without a table", i)
		}
	}
	for i := range p.PixelRules {
		if err := p.PixelRules[i].check(); err != nil {
			return nil, fmt.Errorf("anonymize: %w", err)
		}
	}
	switch p.JPEGBaseline {
	case "", JPEGQuarantine, JPEGBlankBlocks:
	default:
		return nil, errors.New("anonymize: unknown baseline JPEG action")
	}
	a := &Anonymizer{p: p, ps: pseudonyms{secret: p.Secret, maxDays: p.MaxDateShiftDays}}
	for _, o := range opts {
		o(a)
	}
	a.codes = methodCodes(p.Options)
	a.text = newTextPatterns()
	return a, nil
}

// Anonymize reads one DICOM file from r and writes its de-identified form to
// w. Pixel data is streamed through without being decoded or held in memory,
// except that a matching pixel rule cleans it one frame at a time.
//
// On error nothing written to w may be used: the caller writes to a
// temporary file and discards it. Every error wraps one of the sentinels
// ([ErrMalformed], [ErrUnsupported], [ErrRejected], [ErrBurnedIn]) or is a
// write or context error, and its message contains no attribute value.
func (a *Anonymizer) Anonymize(ctx context.Context, r io.Reader, w io.Writer) (*Report, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(r, 64<<10)
	meta, syn, err := readPreamble(br)
	if err != nil {
		return nil, err
	}
	var in *bufio.Reader = br
	var inflater io.ReadCloser
	if syn.deflated {
		inflater = flate.NewReader(br)
		defer inflater.Close()
		in = bufio.NewReaderSize(inflater, 64<<10)
	}
	p := newParser(in, syn)
	if !syn.deflated {
		p.src = r
	}
	ds, pix, err := p.readDataset(-1, 0, modeTop)
	if err != nil {
		return nil, err
	}
	f := a.newFile(ds, syn)
	if err := f.admit(pix != nil); err != nil {
		return nil, err
	}
	if f.pix != nil {
		if err := f.planPixels(pix); err != nil {
			return nil, err
		}
	}
	out, err := f.processTop(ds)
	if err != nil {
		return nil, err
	}
	f.stamp(out)
	sopClass := out.str(tagSOPClassUID)
	if sopClass == "" && meta != nil {
		sopClass = meta.str(tagMediaSOPClass)
	}
	sopInstance := out.str(tagSOPInstanceUID)
	if sopClass == "" || sopInstance == "" {
		return nil, quarantine(ErrUnsupported, "not a composite instance: no SOP Class or SOP Instance UID")
	}
	f.report.SOPClassUID = sopClass
	f.report.SOPInstanceUID = sopInstance
	f.report.StudyInstanceUID = out.str(tagStudyInstanceUID)
	f.report.SeriesInstanceUID = out.str(tagSeriesInstanceUID)
	f.report.Modality = out.str(tagModality)
	f.report.PatientID = out.str(tagPatientID)
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	if err := writeMeta(w, meta, syn, sopClass, sopInstance); err != nil {
		return nil, fmt.Errorf("anonymize: write: %w", err)
	}
	dst := w
	var deflater *flate.Writer
	if syn.deflated {
		deflater, _ = flate.NewWriter(w, flate.DefaultCompression)
		dst = deflater
	}
	wr := newWriter(dst, syn)
	if !syn.deflated {
		wr.dst = w
	}
	wr.dataset(out)
	if pix != nil {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		start := wr.n
		if err := f.writePixels(p, wr, pix); err != nil {
			return nil, err
		}
		f.report.PixelBytes = wr.n - start
		// Whatever follows pixel data (padding, signatures) must parse
		// and is anonymised like the rest.
		tail, _, err := p.readDatasetAfter(-1, 0, modeTail, pix.tag)
		if err != nil {
			return nil, err
		}
		tailOut, err := f.process(tail, scopeNormal, "", 0)
		if err != nil {
			return nil, err
		}
		wr.dataset(tailOut)
	}
	if err := wr.flush(); err != nil {
		return nil, fmt.Errorf("anonymize: write: %w", err)
	}
	if deflater != nil {
		if err := deflater.Close(); err != nil {
			return nil, fmt.Errorf("anonymize: write: %w", err)
		}
	}
	f.tally.fill(f.report)
	return f.report, nil
}
