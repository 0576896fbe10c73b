package relay

import "time"

// StudyInfo summarises one study of a project (GET
// /api/v1/projects/{project}/studies).
type StudyInfo struct {
	// StudyUID is the pseudonymous StudyInstanceUID.
	StudyUID string `json:"study_uid"`
	// Modalities lists the distinct modalities, sorted.
	Modalities []string `json:"modalities"`
	// Series counts distinct series.
	Series int `json:"series"`
	// Files counts files.
	Files int `json:"files"`
	// Bytes sums the sealed sizes.
	Bytes int64 `json:"bytes"`
	// FirstAt is when the first file was committed.
	FirstAt time.Time `json:"first_at"`
	// LastAt is when the last file was committed.
	LastAt time.Time `json:"last_at"`
}

// FileInfo describes one committed sealed file (GET
// /api/v1/projects/{project}/studies/{study}/files). The signed manifest is
// authoritative; this listing is only a guide.
type FileInfo struct {
	// FileID identifies the file in the /api/v1/files endpoints.
	FileID string `json:"file_id"`
	// StudyUID is the pseudonymous StudyInstanceUID.
	StudyUID string `json:"study_uid"`
	// SeriesUID is the pseudonymous SeriesInstanceUID.
	SeriesUID string `json:"series_uid"`
	// InstanceUID is the pseudonymous SOPInstanceUID.
	InstanceUID string `json:"instance_uid"`
	// SOPClassUID is the SOP class.
	SOPClassUID string `json:"sop_class_uid"`
	// Modality is the DICOM modality.
	Modality string `json:"modality"`
	// Site is the sending site.
	Site string `json:"site"`
	// AgentID is the sending agent, whose key signed the manifest.
	AgentID string `json:"agent_id"`
	// Size is the sealed size in bytes.
	Size int64 `json:"size"`
	// SHA256 is the hex SHA-256 of the sealed file.
	SHA256 string `json:"sha256"`
	// CommittedAt is when the relay committed the file.
	CommittedAt time.Time `json:"committed_at"`
}

// AgentInfo describes an enrolled agent and its manifest signing key (GET
// /api/v1/projects/{project}/agents).
type AgentInfo struct {
	// ID is the agent ID named in its manifests.
	ID string `json:"id"`
	// Site is the agent's site.
	Site string `json:"site"`
	// PublicKey is the agent's Ed25519 public key (32 bytes, base64 in
	// JSON): the key of its client certificate and of its manifests.
	PublicKey []byte `json:"public_key"`
	// KeyID is the short hex ID of PublicKey.
	KeyID string `json:"key_id"`
	// Revoked is true once the agent is revoked. Files it committed before
	// remain valid.
	Revoked bool `json:"revoked"`
	// EnrolledAt is when the agent enrolled.
	EnrolledAt time.Time `json:"enrolled_at"`
}

// apiError is the body of every API error.
type apiError struct {
	Code  string `json:"code"`
	Error string `json:"error"`
}

// Response bodies of the list endpoints.
type (
	studiesResponse struct {
		Studies []StudyInfo `json:"studies"`
	}
	filesResponse struct {
		Files []FileInfo `json:"files"`
	}
	agentsResponse struct {
		Agents []AgentInfo `json:"agents"`
	}
)
