package store

import (
	"net/netip"
	"time"
)

// FileRecord is one committed sealed file. It holds pseudonymous UIDs and
// hashes only, never PHI. Times are kept to the microsecond.
type FileRecord struct {
	// FileID is the upload's unique ID (chosen by the agent). Required.
	FileID string `json:"file_id"`
	// Project owns the file. Required.
	Project string `json:"project"`
	// Site is the sending site.
	Site string `json:"site"`
	// AgentID is the sending agent.
	AgentID string `json:"agent_id"`
	// StudyUID is the pseudonymous StudyInstanceUID.
	StudyUID string `json:"study_uid"`
	// SeriesUID is the pseudonymous SeriesInstanceUID.
	SeriesUID string `json:"series_uid"`
	// InstanceUID is the pseudonymous SOPInstanceUID; unique per project.
	// Required.
	InstanceUID string `json:"instance_uid"`
	// SOPClassUID is the SOP class (not identifying).
	SOPClassUID string `json:"sop_class_uid"`
	// Modality is the DICOM modality, e.g. "CT".
	Modality string `json:"modality"`
	// ObjectKey is the sealed object's key in the ObjectStore. Required.
	ObjectKey string `json:"object_key"`
	// Size is the sealed object's length in bytes.
	Size int64 `json:"size"`
	// SHA256 is the hex SHA-256 of the sealed object. Required.
	SHA256 string `json:"sha256"`
	// PlainSHA256 is the hex SHA-256 of the anonymised plaintext; it
	// decides whether two uploads of one instance are the same file.
	// Required.
	PlainSHA256 string `json:"plain_sha256"`
	// Manifest is the agent-signed manifest.
	Manifest []byte `json:"manifest,omitempty"`
	// Receipt is the relay-signed receipt.
	Receipt []byte `json:"receipt,omitempty"`
	// CommittedAt is when the relay committed the file; zero means now.
	CommittedAt time.Time `json:"committed_at"`
}

// StudySummary aggregates a project's files of one study.
type StudySummary struct {
	// StudyUID is the pseudonymous StudyInstanceUID.
	StudyUID string `json:"study_uid"`
	// Modalities lists the distinct non-empty modalities, sorted.
	Modalities []string `json:"modalities"`
	// Series counts distinct series.
	Series int `json:"series"`
	// Files counts files.
	Files int `json:"files"`
	// Bytes sums the sealed sizes.
	Bytes int64 `json:"bytes"`
	// FirstAt is the earliest CommittedAt.
	FirstAt time.Time `json:"first_at"`
	// LastAt is the latest CommittedAt.
	LastAt time.Time `json:"last_at"`
}

// Conflict records an upload refused because a different file already
// holds its (Project, InstanceUID).
type Conflict struct {
	// Project is the shared project.
	Project string `json:"project"`
	// InstanceUID is the contested pseudonymous SOPInstanceUID.
	InstanceUID string `json:"instance_uid"`
	// ExistingFileID is the file already committed.
	ExistingFileID string `json:"existing_file_id"`
	// FileID is the refused upload.
	FileID string `json:"file_id"`
	// Site is the refused upload's site.
	Site string `json:"site"`
	// AgentID is the refused upload's agent.
	AgentID string `json:"agent_id"`
	// SHA256 is the refused upload's sealed hash.
	SHA256 string `json:"sha256"`
	// PlainSHA256 is the refused upload's plaintext hash.
	PlainSHA256 string `json:"plain_sha256"`
	// DetectedAt is when the conflict was recorded.
	DetectedAt time.Time `json:"detected_at"`
}

// EnrolmentToken is a single-use, expiring token that lets a site's agent
// enrol. Only a hash of the token is stored.
type EnrolmentToken struct {
	// Hash identifies the token: a hash (e.g. hex SHA-256) of the secret
	// token, never the token itself. Required and unique.
	Hash string `json:"hash"`
	// Project the agent will join. Required.
	Project string `json:"project"`
	// Site the agent will represent. Required.
	Site string `json:"site"`
	// ExpiresAt is the end of the token's validity. Required.
	ExpiresAt time.Time `json:"expires_at"`
	// CreatedBy is the admin account that issued it.
	CreatedBy string `json:"created_by"`
	// UsedAt is when it was redeemed; zero while unused.
	UsedAt time.Time `json:"used_at"`
}

// Agent is an enrolled site agent.
type Agent struct {
	// ID is the agent's unique ID. Required.
	ID string `json:"id"`
	// Project the agent sends to. Required.
	Project string `json:"project"`
	// Site the agent represents.
	Site string `json:"site"`
	// CertSerial is the serial of its client certificate.
	CertSerial string `json:"cert_serial"`
	// PublicKey is its manifest-signing public key.
	PublicKey []byte `json:"public_key"`
	// EnrolledAt is when it enrolled.
	EnrolledAt time.Time `json:"enrolled_at"`
	// Revoked is true once the agent is revoked; revocation is final.
	Revoked bool `json:"revoked"`
	// RevokedAt is when it was revoked; zero while not revoked.
	RevokedAt time.Time `json:"revoked_at"`
}

// WireGuardPeer is the WireGuard peer of an agent that enrolled with a
// WireGuard key: the relay's tunnel lets the key in at the address.
type WireGuardPeer struct {
	// AgentID is the enrolled agent. Required; one peer per agent.
	AgentID string `json:"agent_id"`
	// PublicKey is the agent's WireGuard public key (32 bytes). Required
	// and unique.
	PublicKey []byte `json:"public_key"`
	// TunnelIP is the agent's address inside the tunnel. Required and
	// unique.
	TunnelIP netip.Addr `json:"tunnel_ip"`
	// CreatedAt is when the peer was recorded; zero means now.
	CreatedAt time.Time `json:"created_at"`
}

// validWireGuardPeer reports whether p has every required field.
func validWireGuardPeer(p WireGuardPeer) bool {
	return p.AgentID != "" && len(p.PublicKey) == 32 && p.TunnelIP.IsValid()
}

// Download records that a principal downloaded a file.
type Download struct {
	// FileID is the downloaded file. Required.
	FileID string `json:"file_id"`
	// Principal is the account or client that downloaded it. Required.
	Principal string `json:"principal"`
	// At is when; zero means now.
	At time.Time `json:"at"`
}
