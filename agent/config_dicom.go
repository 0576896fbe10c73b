package agent

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
)

// Defaults of [DICOMConfig] fields.
const (
	// DefaultAETitle is the AE title of the agent's storage SCP.
	DefaultAETitle = "DICOMGATE"
	// receivedDirName is the folder of Config.SpoolDir holding the Part 10
	// files received by C-STORE until their item is committed.
	receivedDirName = "received"
)

// DICOMConfig configures the agent's DICOM storage SCP: a modality or PACS
// sends instances by C-STORE and each one enters the same queue as files
// from a watched folder. The C-STORE response is sent only once the
// instance is durably queued (see the package doc, DICOM network intake).
type DICOMConfig struct {
	// Listen is the TCP address of the SCP, e.g. ":11112" or
	// "127.0.0.1:4242". Default: "" (no SCP).
	Listen string `yaml:"listen"`

	// AETitle is the called AE title the SCP answers to; associations
	// calling another title are rejected. Default: "DICOMGATE".
	AETitle string `yaml:"ae_title"`

	// AllowedCallingAEs lists the calling AE titles accepted. Default: none
	// (any calling AE title is accepted).
	AllowedCallingAEs []string `yaml:"allowed_calling_aes"`
}

// SetDefaults replaces every zero field with its documented default.
func (d *DICOMConfig) SetDefaults() {
	if d.AETitle == "" {
		d.AETitle = DefaultAETitle
	}
}

// validate returns each problem of d, each starting with the field name.
func (d *DICOMConfig) validate() []error {
	var probs []error
	if d.Listen != "" {
		if _, port, err := net.SplitHostPort(d.Listen); err != nil || port == "" {
			probs = append(probs, fmt.Errorf("listen: %q is not host:port", d.Listen))
		}
	}
	if err := checkAETitle(d.AETitle); err != nil {
		probs = append(probs, fmt.Errorf("ae_title: %w", err))
	}
	for i, ae := range d.AllowedCallingAEs {
		if err := checkAETitle(ae); err != nil {
			probs = append(probs, fmt.Errorf("allowed_calling_aes[%d]: %w", i, err))
		}
	}
	return probs
}

// checkAETitle checks an AE title against PS3.5 (VR AE): 1 to 16
// characters of the default repertoire, no backslash, not only spaces.
func checkAETitle(ae string) error {
	switch {
	case strings.TrimSpace(ae) == "":
		return errors.New("empty")
	case len(ae) > 16:
		return fmt.Errorf("%q is longer than 16 characters", ae)
	case strings.TrimSpace(ae) != ae:
		return fmt.Errorf("%q has leading or trailing spaces", ae)
	}
	for _, r := range ae {
		if r < 0x20 || r > 0x7e || r == '\\' {
			return fmt.Errorf("%q has a character not allowed in an ae title", ae)
		}
	}
	return nil
}

// receivedDir is the folder of spoolDir that holds received instances.
func receivedDir(spoolDir string) string { return filepath.Join(spoolDir, receivedDirName) }
