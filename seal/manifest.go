package seal

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// ManifestVersion is the manifest format version this package writes and
// accepts.
const ManifestVersion = 1

// A Manifest describes one sealed file. The agent fills it after sealing,
// signs it with [SignManifest], and the relay and recipients check it with
// [OpenManifest]. It holds only pseudonymous identifiers, never PHI.
type Manifest struct {
	// FormatVersion is the manifest version; [SignManifest] sets it to
	// [ManifestVersion] when zero.
	FormatVersion int `json:"format_version"`
	// FileID is the unique ID of the sealed file (the upload ID).
	FileID string `json:"file_id"`
	// Project is the project the file belongs to.
	Project string `json:"project"`
	// Site is the sending site.
	Site string `json:"site"`
	// AgentID identifies the agent (and its signing key) that sealed the file.
	AgentID string `json:"agent_id"`
	// PolicyID is the anonymisation policy applied.
	PolicyID string `json:"policy_id"`
	// PolicyVersion is the version of that policy.
	PolicyVersion string `json:"policy_version"`
	// PolicyHash is the canonical hash of that policy.
	PolicyHash string `json:"policy_hash"`
	// StudyInstanceUID is the pseudonymised study UID.
	StudyInstanceUID string `json:"study_instance_uid"`
	// SeriesInstanceUID is the pseudonymised series UID.
	SeriesInstanceUID string `json:"series_instance_uid"`
	// SOPInstanceUID is the pseudonymised instance UID.
	SOPInstanceUID string `json:"sop_instance_uid"`
	// SOPClassUID is the SOP class of the instance.
	SOPClassUID string `json:"sop_class_uid"`
	// Modality is the DICOM modality, e.g. "CT".
	Modality string `json:"modality"`
	// TransferSyntaxUID is the transfer syntax of the anonymised file.
	TransferSyntaxUID string `json:"transfer_syntax_uid"`
	// PlaintextSize is the size of the anonymised DICOM file in bytes.
	PlaintextSize int64 `json:"plaintext_size"`
	// PlaintextSHA256 is the lower-case hex SHA-256 of the anonymised file.
	PlaintextSHA256 string `json:"plaintext_sha256"`
	// CiphertextSize is the size of the sealed file in bytes.
	CiphertextSize int64 `json:"ciphertext_size"`
	// CiphertextSHA256 is the lower-case hex SHA-256 of the sealed file.
	CiphertextSHA256 string `json:"ciphertext_sha256"`
	// Report is the anonymisation report (action counts) as JSON; optional.
	Report json.RawMessage `json:"report,omitempty"`
	// Created is when the file was sealed, in UTC.
	Created time.Time `json:"created"`
}

// SetStats copies the sizes and hashes reported by [Writer.Stats] into m.
func (m *Manifest) SetStats(s Stats) {
	m.PlaintextSize = s.PlaintextSize
	m.PlaintextSHA256 = hex.EncodeToString(s.PlaintextSHA256[:])
	m.CiphertextSize = s.CiphertextSize
	m.CiphertextSHA256 = hex.EncodeToString(s.CiphertextSHA256[:])
}

// Validate reports every missing or malformed field of m, joined.
func (m *Manifest) Validate() error {
	var errs []error
	if m.FormatVersion != ManifestVersion {
		errs = append(errs, fmt.Errorf("format_version %d, want %d", m.FormatVersion, ManifestVersion))
	}
	for _, f := range []struct{ name, val string }{
		{"file_id", m.FileID}, {"project", m.Project}, {"site", m.Site}, {"agent_id", m.AgentID},
	} {
		if f.val == "" {
			errs = append(errs, fmt.Errorf("%s is empty", f.name))
		}
	}
	for _, f := range []struct {
		name, val string
		size      int64
	}{
		{"plaintext", m.PlaintextSHA256, m.PlaintextSize},
		{"ciphertext", m.CiphertextSHA256, m.CiphertextSize},
	} {
		if !isSHA256Hex(f.val) {
			errs = append(errs, fmt.Errorf("%s_sha256 is not 64 lower-case hex digits", f.name))
		}
		if f.size < 0 {
			errs = append(errs, fmt.Errorf("%s_size is negative", f.name))
		}
	}
	if len(m.Report) > 0 && !json.Valid(m.Report) {
		errs = append(errs, errors.New("report is not valid json"))
	}
	if m.Created.IsZero() {
		errs = append(errs, errors.New("created is zero"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("seal: invalid manifest: %w", err)
	}
	return nil
}

// isSHA256Hex reports whether s is 64 lower-case hex digits.
func isSHA256Hex(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
