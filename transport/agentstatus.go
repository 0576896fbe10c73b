package transport

import "time"

// AgentStatusPath takes a POST of an [AgentStatus], authenticated by the
// agent's client certificate like [QuarantinePath].
const AgentStatusPath = "/api/v1/agent/status"

// AgentStatus is an agent's queue health, reported to the relay at each
// review round. It carries counts and ages only, never an item's name.
type AgentStatus struct {
	// Counts holds the number of queue items in each state (seen,
	// anonymised, sealed, sent, committed, quarantined).
	Counts map[string]int `json:"counts"`
	// OldestWaitingSeconds is the age of the oldest item not yet
	// committed or quarantined, 0 if none waits.
	OldestWaitingSeconds float64 `json:"oldest_waiting_seconds"`
	// Stuck is true when OldestWaitingSeconds exceeds the agent's
	// stuck_after threshold.
	Stuck bool `json:"stuck"`
	// StorageFull is true while the agent's own disk (spool or queue) is
	// full: its processing waits for space, nothing is lost.
	StorageFull bool `json:"storage_full,omitempty"`
	// At is when the agent read its queue.
	At time.Time `json:"at"`
}
