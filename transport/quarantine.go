package transport

import "time"

// The relay's HTTPS endpoints for agents, authenticated by the agent's
// client certificate (the one [Enrol] issued).
const (
	// QuarantinePath takes a POST of a JSON array of [QuarantineReport].
	QuarantinePath = "/api/v1/agent/quarantine"
	// CommandsPath answers a GET (query "after", an audit index, -1 for
	// all) with [QuarantineCommands].
	CommandsPath = "/api/v1/agent/commands"
)

// QuarantineReport tells the relay an agent quarantined a queue item.
type QuarantineReport struct {
	// Item is the agent's queue item ID.
	Item int64 `json:"item"`
	// Reason is why; it never holds PHI.
	Reason string `json:"reason"`
	// At is when the item was quarantined.
	At time.Time `json:"at"`
}

// The decisions a [QuarantineCommand] carries.
const (
	CommandRequeue = "requeue" // process the item again
	CommandDiscard = "discard" // give the item up for good
)

// QuarantineCommand is a user's decision on a quarantined item.
type QuarantineCommand struct {
	// Index is the decision's index in the relay's audit trail.
	Index int64 `json:"index"`
	// Item is the agent's queue item ID.
	Item int64 `json:"item"`
	// Action is [CommandRequeue] or [CommandDiscard].
	Action string `json:"action"`
	// By is the user who decided.
	By string `json:"by"`
	// At is when.
	At time.Time `json:"at"`
}

// QuarantineCommands answers [CommandsPath].
type QuarantineCommands struct {
	// Commands are the decisions after the index asked for, in order.
	Commands []QuarantineCommand `json:"commands"`
	// Next is the index to ask after next time.
	Next int64 `json:"next"`
}
