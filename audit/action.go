package audit

import "slices"

// Action is what an [Event] records, from a fixed vocabulary: [Log.Append]
// refuses any other value. Add a constant here (and to [Actions]) to extend
// it; never rename one, since stored entries keep the string.
type Action string

// The action vocabulary.
const (
	ActionLoginSuccess    Action = "login.success"    // a user signed in
	ActionLoginFailure    Action = "login.failure"    // a sign-in failed; Actor is the name tried
	ActionLogout          Action = "logout"           // a user signed out
	ActionSessionTimeout  Action = "session.timeout"  // a session ended on inactivity
	ActionAccountLockout  Action = "account.lockout"  // an account locked after failures
	ActionPasswordChange  Action = "password.change"  // a user changed their password
	ActionPasswordReset   Action = "password.reset"   // an admin reset a password
	ActionAccountCreate   Action = "account.create"   // an account was created
	ActionAccountDisable  Action = "account.disable"  // an account was disabled
	ActionAccountEnable   Action = "account.enable"   // an account was re-enabled
	ActionAccountRole     Action = "account.role"     // an account's roles changed
	ActionAgentEnrol      Action = "agent.enrol"      // a site agent enrolled
	ActionAgentRevoke     Action = "agent.revoke"     // a site agent was revoked
	ActionPolicyCreate    Action = "policy.create"    // a policy was created
	ActionPolicyEdit      Action = "policy.edit"      // a policy was edited
	ActionPolicyApprove   Action = "policy.approve"   // a policy version was approved (e-signature)
	ActionFileReceived    Action = "file.received"    // the relay received a sealed file
	ActionFileCommitted   Action = "file.committed"   // a sealed file was committed
	ActionFileRejected    Action = "file.rejected"    // a sealed file was refused
	ActionConflict        Action = "conflict"         // a different file for a committed instance
	ActionDownload        Action = "download"         // a sealed file was downloaded
	ActionStudyRelease    Action = "study.release"    // a study was released (e-signature)
	ActionExport          Action = "export"           // the audit trail was exported
	ActionVerify          Action = "audit.verify"     // the audit trail was verified
	ActionConfigChange    Action = "config.change"    // configuration changed
	ActionSoftwareVersion Action = "software.version" // a relay started with a software version
	ActionAccessDenied    Action = "access.denied"    // a request was refused for lack of rights

	ActionQuarantineReport  Action = "quarantine.report"  // an agent reported a quarantined item; Object is "<agent>/<item>"
	ActionQuarantineRequeue Action = "quarantine.requeue" // a user sent a quarantined item back for processing
	ActionQuarantineDiscard Action = "quarantine.discard" // a user discarded a quarantined item
	ActionAgentStuck        Action = "agent.stuck"        // an agent reported its queue stuck (recorded when it becomes stuck)

	ActionAgentHandshakeRefused Action = "agent.handshake_refused" // an agent certificate was refused at the handshake (rate-limited); Reason says why
	ActionAgentClockSkew        Action = "agent.clock_skew"        // an agent's clock is off the relay's beyond the threshold (once per episode)
	ActionAgentCertRenewed      Action = "agent.cert_renewed"      // an agent renewed its certificate

	ActionStorageFull      Action = "storage.full"       // the relay refused uploads because its storage was full (once per episode)
	ActionAgentStorageFull Action = "agent.storage_full" // an agent reported its own disk full (recorded when it becomes full)
)

// Actions returns the whole vocabulary, in declaration order. The slice is
// new on each call.
func Actions() []Action {
	return []Action{
		ActionLoginSuccess, ActionLoginFailure, ActionLogout, ActionSessionTimeout,
		ActionAccountLockout, ActionPasswordChange, ActionPasswordReset,
		ActionAccountCreate, ActionAccountDisable, ActionAccountEnable, ActionAccountRole,
		ActionAgentEnrol, ActionAgentRevoke,
		ActionPolicyCreate, ActionPolicyEdit, ActionPolicyApprove,
		ActionFileReceived, ActionFileCommitted, ActionFileRejected, ActionConflict,
		ActionDownload, ActionStudyRelease, ActionExport, ActionVerify,
		ActionConfigChange, ActionSoftwareVersion, ActionAccessDenied,
		ActionQuarantineReport, ActionQuarantineRequeue, ActionQuarantineDiscard,
		ActionAgentStuck,
		ActionAgentHandshakeRefused, ActionAgentClockSkew, ActionAgentCertRenewed,
		ActionStorageFull, ActionAgentStorageFull,
	}
}

// Valid reports whether a is in the vocabulary.
func (a Action) Valid() bool { return slices.Contains(Actions(), a) }
