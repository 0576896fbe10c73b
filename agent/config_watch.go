package agent

import (
	"errors"
	"fmt"
	"time"
)

// Disposition says what happens to a source file once the relay has
// committed it.
type Disposition string

// Dispositions of a source file after commit.
const (
	// Keep leaves the source file where it is.
	Keep Disposition = "keep"
	// Move moves it under [WatchConfig.MoveTo], keeping its path relative
	// to the watched folder and never overwriting a file.
	Move Disposition = "move"
	// Delete removes it.
	Delete Disposition = "delete"
)

// Defaults of [WatchConfig] fields.
const (
	DefaultStableFor   = 2 * time.Second
	DefaultRescanEvery = 30 * time.Second
)

// WatchConfig is one watched folder.
type WatchConfig struct {
	// Path is the folder. Required.
	Path string `yaml:"path"`

	// Recursive watches sub-folders too. Default: false.
	Recursive bool `yaml:"recursive"`

	// StableFor is how long a file's size and modification time must stay
	// unchanged before it is taken. Default: 2s.
	StableFor time.Duration `yaml:"stable_for"`

	// RescanEvery is the period of the full rescan that finds files whose
	// events were missed. Default: 30s.
	RescanEvery time.Duration `yaml:"rescan_every"`

	// AfterCommit is keep, move or delete. Default: keep.
	AfterCommit Disposition `yaml:"after_commit"`

	// MoveTo is the folder committed files are moved to when AfterCommit is
	// move. It must not be inside Path. Default: "".
	MoveTo string `yaml:"move_to"`
}

// SetDefaults replaces every zero field with its documented default.
func (w *WatchConfig) SetDefaults() {
	if w.StableFor == 0 {
		w.StableFor = DefaultStableFor
	}
	if w.RescanEvery == 0 {
		w.RescanEvery = DefaultRescanEvery
	}
	if w.AfterCommit == "" {
		w.AfterCommit = Keep
	}
}

// validate returns each problem of w, each starting with the field name.
func (w *WatchConfig) validate() []error {
	var probs []error
	if w.Path == "" {
		probs = append(probs, errors.New("path: empty"))
	}
	if w.StableFor < 0 {
		probs = append(probs, fmt.Errorf("stable_for: %s is negative", w.StableFor))
	}
	if w.RescanEvery < 0 {
		probs = append(probs, fmt.Errorf("rescan_every: %s is negative", w.RescanEvery))
	}
	switch w.AfterCommit {
	case Keep, Delete:
		if w.MoveTo != "" {
			probs = append(probs, fmt.Errorf("move_to: set but after_commit is %s", w.AfterCommit))
		}
	case Move:
		switch {
		case w.MoveTo == "":
			probs = append(probs, errors.New("move_to: required when after_commit is move"))
		case w.Path != "" && within(w.Path, w.MoveTo):
			probs = append(probs, errors.New("move_to: inside the watched folder"))
		}
	default:
		probs = append(probs, fmt.Errorf("after_commit: %q is not keep, move or delete", w.AfterCommit))
	}
	return probs
}
