package agent

import (
	"path/filepath"
	"slices"
	"testing"
)

// TestLoadExampleDICOM checks the dicom section of configs/agent.yaml.
func TestLoadExampleDICOM(t *testing.T) {
	c, err := Load(filepath.Join("..", "configs", "agent.yaml"))
	if err != nil {
		t.Fatalf("Load(configs/agent.yaml): %v", err)
	}
	if c.DICOM.Listen != ":11112" || c.DICOM.AETitle != "DICOMGATE" ||
		!slices.Equal(c.DICOM.AllowedCallingAEs, []string{"CT01", "PACS"}) {
		t.Errorf("dicom = %+v", c.DICOM)
	}
}
