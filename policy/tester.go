package policy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"

	"dicomgate/anonymize"
)

// TestRow is what a policy did to one attribute of a sample ([Test]).
type TestRow struct {
	Path     string // e.g. "ReferencedImageSequence[0].ReferencedSOPInstanceUID"
	Tag      string // "(gggg,eeee)"
	VR       string
	Action   string // the action letter or policy action
	Original string // the original value: PHI, callers mask it unless asked
	New      string // the new value ("" when removed)
	Removed  bool
}

// TestResult is the outcome of running a policy on one sample file.
// Rows, Original values and PNG hold patient data: callers keep them in
// memory, never log or store them.
type TestResult struct {
	// Rows are the attributes processed, in file order.
	Rows []TestRow
	// Report is the engine's report; nil when the file would not be
	// anonymised (see Err).
	Report *anonymize.Report
	// Err says why the file would be quarantined or rejected; its message
	// holds no attribute value.
	Err error
	// PixelRule names the pixel rule that matched frame 1 ("" when none).
	PixelRule string
	// PNG is frame 1 with the rule's regions outlined in red; nil unless a
	// pixel rule matched and the pixel data can be previewed.
	PNG []byte
}

// Test runs p on sample without writing any output and reports, per
// attribute, the action taken and the new value, plus a preview of the
// pixel rule's regions. The sample is read into memory (callers cap its
// size). secret keys the pseudonyms; a tester should use its own random
// secret so that its pseudonyms never equal real ones.
//
// The error is for a policy that does not compile or a sample that cannot
// be read; a file the policy would quarantine or reject is reported in
// [TestResult.Err].
func Test(ctx context.Context, p *Policy, secret []byte, sample io.Reader) (*TestResult, error) {
	prof, err := p.Compile(secret)
	if err != nil {
		return nil, err
	}
	data, err := io.ReadAll(sample)
	if err != nil {
		return nil, fmt.Errorf("policy: test: read sample: %w", err)
	}
	res := &TestResult{}
	a, err := anonymize.New(prof, anonymize.WithTrace(func(t anonymize.Trace) {
		res.Rows = append(res.Rows, TestRow{Path: t.Path, Tag: t.Tag.String(), VR: t.VR, Action: t.Action,
			Original: t.Original, New: t.New, Removed: t.Removed})
	}))
	if err != nil {
		return nil, fmt.Errorf("policy: test: %w", err)
	}
	res.Report, res.Err = a.Anonymize(ctx, bytes.NewReader(data), io.Discard)
	if res.Err != nil {
		res.Report = nil
		if ctxErr := ctx.Err(); ctxErr != nil && errors.Is(res.Err, ctxErr) {
			return nil, ctxErr
		}
	}
	if len(prof.PixelRules) == 0 {
		return res, nil
	}
	// No preview for a file without (previewable) pixel data: not an error.
	pv, err := a.Preview(ctx, bytes.NewReader(data))
	if err != nil || pv.Rule == "" {
		return res, nil
	}
	res.PixelRule = pv.Rule
	if res.PNG, err = outlinePNG(pv); err != nil {
		return nil, fmt.Errorf("policy: test: %w", err)
	}
	return res, nil
}

// outlinePNG encodes the preview's frame with its regions outlined in red.
func outlinePNG(pv *anonymize.Preview) ([]byte, error) {
	b := pv.Image.Bounds()
	img := image.NewRGBA(b)
	draw.Draw(img, b, pv.Image, b.Min, draw.Src)
	red := color.RGBA{R: 255, A: 255}
	for _, r := range pv.Regions {
		if r.X >= b.Dx() || r.Y >= b.Dy() {
			continue
		}
		x1, y1 := min(r.X+r.W, b.Dx())-1, min(r.Y+r.H, b.Dy())-1
		for x := r.X; x <= x1; x++ {
			img.Set(x, r.Y, red)
			img.Set(x, y1, red)
		}
		for y := r.Y; y <= y1; y++ {
			img.Set(r.X, y, red)
			img.Set(x1, y, red)
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
