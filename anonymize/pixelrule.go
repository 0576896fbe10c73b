package anonymize

import "fmt"

// Rect is a rectangle of pixels: columns X to X+W-1 of rows Y to Y+H-1,
// counted from the top-left pixel (0, 0).
type Rect struct {
	X int `json:"x"`
	Y int `json:"y"`
	W int `json:"w"`
	H int `json:"h"`
}

// PixelRule blanks regions of the frames of the files its conditions
// select (PS3.15 Clean Pixel Data Option).
type PixelRule struct {
	// Name identifies the rule in reports and errors (no PHI).
	Name string `json:"name"`
	// When must all hold on the original top level. Conditions on US or
	// IS attributes (Rows, Columns) compare their decimal values.
	When []Condition `json:"when,omitempty"`
	// Regions are blanked in every selected frame.
	Regions []Rect `json:"regions"`
	// Frames lists the 1-based frame numbers to blank. Default: all.
	Frames []int `json:"frames,omitempty"`
	// Source names the rule's origin (e.g. "policy.yaml:42").
	Source string `json:"source,omitempty"`
}

// JPEGAction says what a pixel rule does to baseline JPEG pixel data.
type JPEGAction string

// JPEG handling. The default (empty) is JPEGQuarantine.
const (
	// JPEGQuarantine quarantines baseline JPEG files a pixel rule selects.
	JPEGQuarantine JPEGAction = "quarantine"
	// JPEGBlankBlocks asks for lossless blanking of whole 8x8 blocks. It
	// is not implemented yet: such files are quarantined (ErrUnsupported).
	JPEGBlankBlocks JPEGAction = "blank-blocks"
)

// frameSelected reports whether 0-based frame i is blanked.
func (r *PixelRule) frameSelected(i int) bool {
	if len(r.Frames) == 0 {
		return true
	}
	for _, n := range r.Frames {
		if n == i+1 {
			return true
		}
	}
	return false
}

func (r *PixelRule) name() string {
	if r.Name != "" {
		return r.Name
	}
	if r.Source != "" {
		return r.Source
	}
	return "(unnamed)"
}

// check validates a rule's shape (New calls it).
func (r *PixelRule) check() error {
	if len(r.Regions) == 0 {
		return fmt.Errorf("pixel rule %s has no region", r.name())
	}
	for i, g := range r.Regions {
		if g.X < 0 || g.Y < 0 || g.W <= 0 || g.H <= 0 || g.X > 0xFFFF || g.Y > 0xFFFF || g.W > 0xFFFF || g.H > 0xFFFF {
			return fmt.Errorf("pixel rule %s: region %d: x and y must be 0 to 65535, w and h 1 to 65535", r.name(), i+1)
		}
	}
	for _, n := range r.Frames {
		if n < 1 {
			return fmt.Errorf("pixel rule %s: frame numbers start at 1", r.name())
		}
	}
	return nil
}
