package relay

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"dicomgate/audit"
	"dicomgate/store"
)

// Errors of account administration. They carry no secrets.
var (
	// ErrAccountExists: the login is taken (logins are never reused).
	ErrAccountExists = errors.New("relay: account already exists")
	// ErrNoAccount: no account has this login.
	ErrNoAccount = errors.New("relay: no such account")
	// ErrAccountHasRecords: an account with records in the audit trail
	// (every account: its creation is one) is never deleted; disable it.
	ErrAccountHasRecords = errors.New("relay: accounts with records are never deleted: disable the account instead")
	// ErrInvalidAccount: a malformed login, name, role or project.
	ErrInvalidAccount = errors.New("relay: invalid account data")
)

// maxFullNameLen bounds an account's printed name.
const maxFullNameLen = 128

// WithClock replaces the clock of accounts, sessions and signatures
// (tests use it to step over timeouts and password ageing).
func WithClock(now func() time.Time) Option {
	return func(s *Server) { s.now = now }
}

// openAccounts opens the account store in the metadata database.
func openAccounts(ctx context.Context, db store.MetaDB) (store.AccountStore, error) {
	o, ok := db.(store.AccountOpener)
	if !ok {
		return nil, fmt.Errorf("relay: accounts: database %T has no account store", db)
	}
	a, err := o.OpenAccounts(ctx)
	if err != nil {
		return nil, fmt.Errorf("relay: accounts: %w", err)
	}
	return a, nil
}

// accountStore returns the open account store.
func (s *Server) accountStore() (store.AccountStore, error) {
	res, err := s.resources()
	if err != nil {
		return nil, err
	}
	return res.accounts, nil
}

// AccountInfo describes an account for listings (no credentials).
type AccountInfo struct {
	store.Account
	// Grants are the account's roles.
	Grants []store.Grant `json:"grants"`
	// Locked is true while the account is locked out.
	Locked bool `json:"locked"`
	// TOTP is true when a second factor is enrolled.
	TOTP bool `json:"totp"`
	// PasswordExpired is true when the password is older than the
	// configured maximum age.
	PasswordExpired bool `json:"password_expired"`
}

// validLogin reports whether s is a login: 1..64 characters of
// [a-z0-9._-], starting with a letter or digit.
func validLogin(s string) bool {
	return validName(s, 64) && s == strings.ToLower(s)
}

// validFullName reports whether s is a printable name of 1..128 runes.
func validFullName(s string) bool {
	n := utf8.RuneCountInString(s)
	return n > 0 && n <= maxFullNameLen && utf8.ValidString(s) && !strings.ContainsFunc(s, unicode.IsControl) &&
		strings.TrimSpace(s) == s
}

// checkGrant validates a grant's project and role.
func (s *Server) checkGrant(g store.Grant) error {
	if !Role(g.Role).valid() {
		return fmt.Errorf("%w: unknown role %q", ErrInvalidAccount, g.Role)
	}
	if g.Project != AllProjects && s.cfg.project(g.Project) == nil {
		return fmt.Errorf("%w: unknown project %q", ErrInvalidAccount, g.Project)
	}
	return nil
}

// CreateAccount creates the account login for the person fullName with
// grants, on behalf of actor (an admin's login, or "cli"), and returns its
// temporary password: show it once to the person, who must change it at
// first sign-in. Audited (account.create, account.role).
func (s *Server) CreateAccount(ctx context.Context, actor, login, fullName string, grants []store.Grant) (string, error) {
	st, err := s.accountStore()
	if err != nil {
		return "", err
	}
	if !validLogin(login) {
		return "", fmt.Errorf("%w: login must be 1..64 characters of [a-z0-9._-]", ErrInvalidAccount)
	}
	if !validFullName(fullName) {
		return "", fmt.Errorf("%w: full name must be 1..%d printable characters", ErrInvalidAccount, maxFullNameLen)
	}
	for i := range grants {
		grants[i].Account = login
		if err := s.checkGrant(grants[i]); err != nil {
			return "", err
		}
	}
	pw, err := newTemporaryPassword()
	if err != nil {
		return "", err
	}
	hash, err := s.cfg.Accounts.passwordHash(pw)
	if err != nil {
		return "", err
	}
	now := s.now()
	err = st.CreateAccount(ctx, store.Account{Name: login, FullName: fullName, PasswordHash: hash, MustChange: true,
		PasswordChangedAt: now, CreatedAt: now, CreatedBy: actor})
	if errors.Is(err, store.ErrConflict) {
		return "", fmt.Errorf("relay: create account: %w", ErrAccountExists)
	}
	if err != nil {
		return "", fmt.Errorf("relay: create account: %w", err)
	}
	s.record(ctx, audit.Event{Actor: actor, Action: audit.ActionAccountCreate, Object: login,
		Details: map[string]any{"temporary_password": true}})
	for _, g := range grants {
		if err := s.GrantRole(ctx, actor, g, true); err != nil {
			return "", err
		}
	}
	if err := st.AddPasswordHistory(ctx, login, hash, now); err != nil {
		return "", fmt.Errorf("relay: create account: %w", err)
	}
	return pw, nil
}

// GrantRole grants (or, with grant false, revokes) g on behalf of actor.
// Audited (account.role).
func (s *Server) GrantRole(ctx context.Context, actor string, g store.Grant, grant bool) error {
	st, err := s.accountStore()
	if err != nil {
		return err
	}
	if err := s.checkGrant(g); err != nil {
		return err
	}
	if _, err := st.GetAccount(ctx, g.Account); errors.Is(err, store.ErrNotExist) {
		return fmt.Errorf("relay: grant: %w", ErrNoAccount)
	} else if err != nil {
		return fmt.Errorf("relay: grant: %w", err)
	}
	if grant {
		err = st.PutGrant(ctx, g)
	} else {
		err = st.DeleteGrant(ctx, g)
	}
	if errors.Is(err, store.ErrNotExist) {
		return fmt.Errorf("relay: revoke: %w: role not held", ErrInvalidAccount)
	}
	if err != nil {
		return fmt.Errorf("relay: grant: %w", err)
	}
	op := "granted"
	if !grant {
		op = "revoked"
	}
	s.record(ctx, audit.Event{Actor: actor, Action: audit.ActionAccountRole, Object: g.Account,
		Project: projectField(g.Project), Reason: op, Details: map[string]any{"role": g.Role, "project": g.Project}})
	return nil
}

// projectField is the audit Project of a grant: "" for relay-wide.
func projectField(p string) string {
	if p == AllProjects {
		return ""
	}
	return p
}

// updateAccount applies fn to login's account, mapping not-found.
func (s *Server) updateAccount(ctx context.Context, login string, fn func(*store.Account) error) (*store.Account, error) {
	st, err := s.accountStore()
	if err != nil {
		return nil, err
	}
	a, err := st.UpdateAccount(ctx, login, fn)
	if errors.Is(err, store.ErrNotExist) {
		return nil, ErrNoAccount
	}
	return a, err
}

// SetAccountEnabled disables or re-enables login on behalf of actor. A
// disabled account's sessions end at once. Audited (account.disable,
// account.enable).
func (s *Server) SetAccountEnabled(ctx context.Context, actor, login string, enabled bool) error {
	_, err := s.updateAccount(ctx, login, func(a *store.Account) error {
		a.Disabled = !enabled
		return nil
	})
	if err != nil {
		return fmt.Errorf("relay: set account enabled: %w", err)
	}
	action := audit.ActionAccountEnable
	if !enabled {
		action = audit.ActionAccountDisable
		s.endSessions(ctx, login, "", "account disabled")
	}
	s.record(ctx, audit.Event{Actor: actor, Action: action, Object: login})
	return nil
}

// UnlockAccount clears a lockout on behalf of actor. Audited
// (account.enable with reason "unlock").
func (s *Server) UnlockAccount(ctx context.Context, actor, login string) error {
	_, err := s.updateAccount(ctx, login, func(a *store.Account) error {
		a.LockedAt, a.FailedLogins = time.Time{}, 0
		return nil
	})
	if err != nil {
		return fmt.Errorf("relay: unlock account: %w", err)
	}
	s.record(ctx, audit.Event{Actor: actor, Action: audit.ActionAccountEnable, Object: login, Reason: "unlock"})
	return nil
}

// ResetPassword gives login a new temporary password on behalf of actor
// and returns it; the account's sessions end and the person must change
// the password at next sign-in. A reset also clears a lockout. Audited
// (password.reset).
func (s *Server) ResetPassword(ctx context.Context, actor, login string) (string, error) {
	pw, err := newTemporaryPassword()
	if err != nil {
		return "", err
	}
	hash, err := s.cfg.Accounts.passwordHash(pw)
	if err != nil {
		return "", err
	}
	now := s.now()
	_, err = s.updateAccount(ctx, login, func(a *store.Account) error {
		a.PasswordHash, a.MustChange, a.PasswordChangedAt = hash, true, now
		a.LockedAt, a.FailedLogins = time.Time{}, 0
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("relay: reset password: %w", err)
	}
	s.endSessions(ctx, login, "", "password reset")
	s.record(ctx, audit.Event{Actor: actor, Action: audit.ActionPasswordReset, Object: login})
	return pw, nil
}

// DeleteAccount always fails with [ErrAccountHasRecords]: Part 11 records
// must stay attributable, so accounts are disabled, never deleted. The
// refusal is audited.
func (s *Server) DeleteAccount(ctx context.Context, actor, login string) error {
	s.record(ctx, audit.Event{Actor: actor, Action: audit.ActionAccessDenied, Object: login,
		Reason: "account delete refused: accounts with records are disabled, never deleted"})
	return ErrAccountHasRecords
}

// ListAccounts returns every account with its grants and state.
func (s *Server) ListAccounts(ctx context.Context) ([]AccountInfo, error) {
	st, err := s.accountStore()
	if err != nil {
		return nil, err
	}
	as, err := st.ListAccounts(ctx)
	if err != nil {
		return nil, fmt.Errorf("relay: list accounts: %w", err)
	}
	out := make([]AccountInfo, 0, len(as))
	for _, a := range as {
		gs, err := st.Grants(ctx, a.Name)
		if err != nil {
			return nil, fmt.Errorf("relay: list accounts: %w", err)
		}
		out = append(out, AccountInfo{Account: a, Grants: gs, Locked: !a.LockedAt.IsZero(), TOTP: a.TOTPEnabled(),
			PasswordExpired: s.passwordExpired(&a)})
	}
	return out, nil
}

// passwordExpired reports whether a's password is past its maximum age.
func (s *Server) passwordExpired(a *store.Account) bool {
	max := s.cfg.Accounts.PasswordMaxAge
	return max > 0 && !a.PasswordChangedAt.IsZero() && s.now().Sub(a.PasswordChangedAt) > max
}

// totpRequired reports whether grants hold a role that must use TOTP.
func (s *Server) totpRequired(grants []store.Grant) bool {
	for _, g := range grants {
		if slices.Contains(s.cfg.Accounts.TOTPRequiredRoles, g.Role) {
			return true
		}
	}
	return false
}
