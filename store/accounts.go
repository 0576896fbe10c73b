package store

import (
	"context"
	"errors"
	"time"
)

// ErrStale reports an update whose precondition no longer holds (for
// example a session already ended).
var ErrStale = errors.New("store: stale")

// AccountStore keeps the relay's user accounts, their role grants and
// password history, login sessions, electronic signatures, the policy
// registry and study releases (21 CFR Part 11). Like [AuditStore] it never
// deletes a record that proves something: accounts are disabled, sessions
// ended, policy revisions superseded, never removed.
//
// Implementations ([SQLiteAccounts], [PostgresAccounts]) are safe for
// concurrent use. Times go in and come out in UTC, truncated to
// microseconds. Nothing stored here is PHI; password hashes and TOTP
// secrets are credentials and must never be logged.
type AccountStore interface {
	// CreateAccount inserts a. A taken Name fails with [ErrConflict]; a
	// missing Name or PasswordHash with [ErrInvalidRecord].
	CreateAccount(ctx context.Context, a Account) error
	// GetAccount returns account name, or [ErrNotExist].
	GetAccount(ctx context.Context, name string) (*Account, error)
	// ListAccounts returns every account ordered by Name.
	ListAccounts(ctx context.Context) ([]Account, error)
	// UpdateAccount reads account name, lets update change it, and writes
	// it back in one transaction (Name cannot change). An error from
	// update aborts and is returned as is. It returns the written account.
	UpdateAccount(ctx context.Context, name string, update func(*Account) error) (*Account, error)

	// AddPasswordHistory records that name used hash from at on.
	AddPasswordHistory(ctx context.Context, name, hash string, at time.Time) error
	// PasswordHistory returns name's last n password hashes, newest first.
	PasswordHistory(ctx context.Context, name string, n int) ([]string, error)

	// PutGrant grants g. Granting a held role succeeds and changes nothing.
	PutGrant(ctx context.Context, g Grant) error
	// DeleteGrant revokes g; revoking a role not held fails with
	// [ErrNotExist].
	DeleteGrant(ctx context.Context, g Grant) error
	// Grants returns name's grants ordered by project and role.
	Grants(ctx context.Context, name string) ([]Grant, error)

	// CreateSession inserts s. A taken ID fails with [ErrConflict].
	CreateSession(ctx context.Context, s Session) error
	// GetSession returns session id, or [ErrNotExist].
	GetSession(ctx context.Context, id string) (*Session, error)
	// TouchSession sets the LastSeen of a live session.
	TouchSession(ctx context.Context, id string, at time.Time) error
	// EndSession ends a live session with a reason; ending an ended
	// session fails with [ErrStale] (so that only one caller records the
	// end), an unknown one with [ErrNotExist].
	EndSession(ctx context.Context, id string, at time.Time, reason string) error
	// EndAccountSessions ends every live session of name but except
	// (which may be empty) and returns the sessions it ended.
	EndAccountSessions(ctx context.Context, name, except string, at time.Time, reason string) ([]Session, error)

	// PutSignature stores an electronic signature and returns its ID.
	PutSignature(ctx context.Context, sig Signature) (int64, error)
	// GetSignature returns signature id, or [ErrNotExist].
	GetSignature(ctx context.Context, id int64) (*Signature, error)
	// ListSignatures returns the signatures of one record type and ID
	// (both optional filters), oldest first.
	ListSignatures(ctx context.Context, recordType, recordID string) ([]Signature, error)

	// PutPolicy stores a policy revision and returns it with its ID. A
	// revision with the same PolicyID and Hash is returned as is (created
	// false). A PolicyID and Version already approved with a different
	// Hash fails with [ErrConflict]: approved versions never change.
	PutPolicy(ctx context.Context, p PolicyRevision) (rev *PolicyRevision, created bool, err error)
	// GetPolicy returns revision id, or [ErrNotExist].
	GetPolicy(ctx context.Context, id int64) (*PolicyRevision, error)
	// ListPolicies returns every revision, newest first (policyID "" for
	// all, else the history of one policy).
	ListPolicies(ctx context.Context, policyID string) ([]PolicyRevision, error)
	// PutApproval records the approval of a revision for a project. The
	// same revision approved twice for a project fails with [ErrConflict].
	PutApproval(ctx context.Context, a PolicyApproval) error
	// ListApprovals returns the approvals of project ("" for all), oldest
	// first.
	ListApprovals(ctx context.Context, project string) ([]PolicyApproval, error)

	// PutRelease records a study release. Releasing a released study
	// fails with [ErrConflict].
	PutRelease(ctx context.Context, r StudyRelease) error
	// ListReleases returns the releases of project, oldest first.
	ListReleases(ctx context.Context, project string) ([]StudyRelease, error)
}

// Account is one person's relay account. Name is the login; FullName is
// the printed name shown with the person's electronic signatures.
type Account struct {
	// Name is the unique login. Required; never reused.
	Name string `json:"name"`
	// FullName is the person's printed name (11.50).
	FullName string `json:"full_name"`
	// PasswordHash is an encoded argon2id hash. Required. Secret.
	PasswordHash string `json:"-"`
	// MustChange is set for a temporary password (new or reset account):
	// nothing but a password change is allowed until it is changed.
	MustChange bool `json:"must_change"`
	// PasswordChangedAt is when the password was last set.
	PasswordChangedAt time.Time `json:"password_changed_at"`
	// Disabled accounts cannot sign in.
	Disabled bool `json:"disabled"`
	// FailedLogins counts consecutive failed sign-ins.
	FailedLogins int `json:"failed_logins"`
	// LockedAt is when the account was locked; zero while unlocked.
	LockedAt time.Time `json:"locked_at"`
	// TOTPSecret is the enrolled TOTP secret (base32). Secret.
	TOTPSecret string `json:"-"`
	// TOTPPending is a secret being enrolled, not yet confirmed. Secret.
	TOTPPending string `json:"-"`
	// TOTPLastStep is the last accepted TOTP time step (replay guard).
	TOTPLastStep int64 `json:"-"`
	// CreatedAt is when the account was created.
	CreatedAt time.Time `json:"created_at"`
	// CreatedBy is who created it.
	CreatedBy string `json:"created_by"`
}

// TOTPEnabled reports whether a second factor is enrolled.
func (a *Account) TOTPEnabled() bool { return a.TOTPSecret != "" }

// Grant gives an account a role in a project ("*": every project).
type Grant struct {
	// Account is the account's Name.
	Account string `json:"account"`
	// Project is a project ID or "*".
	Project string `json:"project"`
	// Role is a role name, such as "admin".
	Role string `json:"role"`
}

// Session is a signed-in session. ID is a hash of the secret session
// token, never the token.
type Session struct {
	// ID is the hex SHA-256 of the session token. Required.
	ID string `json:"-"`
	// Account is the account's Name. Required.
	Account string `json:"account"`
	// CSRF is the session's anti-forgery token. Secret.
	CSRF string `json:"-"`
	// IP is the client address at sign-in.
	IP string `json:"ip"`
	// CreatedAt is when the session started.
	CreatedAt time.Time `json:"created_at"`
	// LastSeen is the time of its last request.
	LastSeen time.Time `json:"last_seen"`
	// EndedAt is when it ended; zero while live.
	EndedAt time.Time `json:"ended_at"`
	// EndReason says why it ended: logout, timeout, superseded...
	EndReason string `json:"end_reason"`
}

// Signature is an electronic signature (21 CFR 11.50, 11.70): who (login
// and printed name), when (UTC) and what it means, bound to the SHA-256 of
// the signed record. Seal is the relay's signature over all of that, so
// that a signature edited in the database no longer verifies.
type Signature struct {
	// ID is assigned by the store.
	ID int64 `json:"id"`
	// Account is the signer's login.
	Account string `json:"account"`
	// PrintedName is the signer's full name at signing time.
	PrintedName string `json:"printed_name"`
	// Meaning is what the signature means (approval, review...).
	Meaning string `json:"meaning"`
	// SignedAt is when, UTC.
	SignedAt time.Time `json:"signed_at"`
	// RecordType is the kind of record signed (policy, release, export).
	RecordType string `json:"record_type"`
	// RecordID identifies the record within its type.
	RecordID string `json:"record_id"`
	// RecordSHA256 is the hex SHA-256 of the signed record's canonical
	// form.
	RecordSHA256 string `json:"record_sha256"`
	// Seal is the relay's signature over the fields above.
	Seal []byte `json:"seal"`
}

// PolicyRevision is one stored text of a policy. Revisions are never
// edited: an edit stores a new revision.
type PolicyRevision struct {
	// ID is assigned by the store.
	ID int64 `json:"id"`
	// PolicyID is the policy's id field.
	PolicyID string `json:"policy_id"`
	// Version is the policy's version field.
	Version int `json:"version"`
	// Hash is the policy's canonical hash.
	Hash string `json:"hash"`
	// YAML is the text as written.
	YAML string `json:"yaml"`
	// CreatedBy is the author's login.
	CreatedBy string `json:"created_by"`
	// CreatedAt is when it was stored.
	CreatedAt time.Time `json:"created_at"`
}

// PolicyApproval approves a policy revision for a project with an
// electronic signature.
type PolicyApproval struct {
	// Project is the project.
	Project string `json:"project"`
	// PolicyRevision is the approved revision's ID.
	PolicyRevision int64 `json:"policy_revision"`
	// PolicyHash is the approved policy's canonical hash.
	PolicyHash string `json:"policy_hash"`
	// SignatureID is the approving signature.
	SignatureID int64 `json:"signature_id"`
	// ApprovedAt is when.
	ApprovedAt time.Time `json:"approved_at"`
}

// StudyRelease records that a study was released with a signature.
type StudyRelease struct {
	// Project is the study's project.
	Project string `json:"project"`
	// StudyUID is the pseudonymous StudyInstanceUID.
	StudyUID string `json:"study_uid"`
	// SignatureID is the releasing signature.
	SignatureID int64 `json:"signature_id"`
	// ReleasedAt is when.
	ReleasedAt time.Time `json:"released_at"`
}
