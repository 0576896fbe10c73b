package relay

import (
	"errors"

	"dicomgate/transport"
)

// Rejection codes the relay sends to agents in addition to transport's own
// (transport.CodeForbidden, transport.CodeHashMismatch, ...). They are
// snake_case and never carry PHI.
const (
	// CodeBadManifest: the manifest signature does not verify with the
	// agent's key, or the manifest is malformed or does not match the offer.
	CodeBadManifest = "bad_manifest"
	// CodePolicyNotApproved: the manifest names a policy hash that is not
	// approved for the project.
	CodePolicyNotApproved = "policy_not_approved"
	// CodeConflict: a different file is already committed for the same
	// project and SOP instance UID, or the file ID is taken by other content.
	CodeConflict = "conflict"
	// CodeBadIdentifier: a project, UID or file ID has characters outside
	// the allowed set.
	CodeBadIdentifier = "bad_identifier"
)

// ErrNotRunning is returned by methods that need the relay's keys and
// databases before [Server.Open] (or [Server.Run]) opened them.
var ErrNotRunning = errors.New("relay: not open")

// ErrUnknownProject is returned for a project that is not in the
// configuration.
var ErrUnknownProject = errors.New("relay: unknown project")

// reject builds a refusal sent to the agent as is.
func reject(code, msg string) error {
	return &transport.RejectedError{Code: code, Message: msg}
}
