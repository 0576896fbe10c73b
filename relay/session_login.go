package relay

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"

	"dicomgate/audit"
	"dicomgate/store"
)

// SessionTokenPrefix starts every session token, so that a session token
// sent as a bearer token is told from a reader token.
const SessionTokenPrefix = "dgs1_"

// ErrLoginFailed is the one answer to a failed sign-in, whatever the
// cause (unknown login, wrong password or code, disabled or locked
// account): the audit trail records the real reason.
var ErrLoginFailed = errors.New("relay: sign-in failed: wrong login, password or code, or the account is locked or disabled")

// Restrictions of a session whose account must first fix something.
const (
	restrictPasswordChange = "password_change_required" // temporary or expired password
	restrictTOTPEnrol      = "totp_enrolment_required"  // a role requires a second factor
)

// callerSession is the account session a request came with.
type callerSession struct {
	sess    *store.Session
	account *store.Account
	// viaCookie is set when the session came in a cookie (browser): state
	// changes then need the CSRF token.
	viaCookie bool
	// restricted says what the account must do before anything else; ""
	// when nothing.
	restricted string
}

// LoginResult is a successful sign-in.
type LoginResult struct {
	// Token is the session's secret: a cookie value or a bearer token.
	Token string `json:"token"`
	// CSRF is the anti-forgery token forms and cookie requests must send.
	CSRF string `json:"csrf"`
	// Restricted is what must be done before anything else, if anything:
	// "password_change_required" or "totp_enrolment_required".
	Restricted string `json:"restricted,omitempty"`
}

// hashSessionToken returns the stored ID of a session token.
func hashSessionToken(token string) string {
	s := sha256.Sum256([]byte(token))
	return hex.EncodeToString(s[:])
}

// randomToken returns prefix + 32 random bytes in base64url.
func randomToken(prefix string) (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("relay: random token: %w", err)
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// auditName makes a tried login safe for the audit trail's Actor: no
// control characters, at most 64 runes, "(empty)" when empty.
func auditName(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			return -1
		}
		return r
	}, s)
	if r := []rune(s); len(r) > 64 {
		s = string(r[:64])
	}
	if s == "" {
		return "(empty)"
	}
	return s
}

// Login signs login in with password and, when enrolled, a TOTP code,
// from ip. On success it ends the account's other sessions (one live
// session per account) and returns the new session. Every attempt is
// audited with the reason; consecutive failures lock the account at
// Accounts.LockoutThreshold. Any failure is [ErrLoginFailed].
func (s *Server) Login(ctx context.Context, login, password, code, ip string) (*LoginResult, error) {
	st, err := s.accountStore()
	if err != nil {
		return nil, err
	}
	fail := func(reason string) (*LoginResult, error) {
		s.record(ctx, audit.Event{Actor: auditName(login), Action: audit.ActionLoginFailure, IP: ip, Reason: reason})
		s.log.Info().Str("reason", reason).Msg("sign-in failed")
		return nil, ErrLoginFailed
	}
	a, err := st.GetAccount(ctx, login)
	if errors.Is(err, store.ErrNotExist) {
		// Spend the time a password check takes, so that timing does not
		// tell which logins exist.
		checkPasswordHash(dummyHash, password)
		return fail("unknown account")
	}
	if err != nil {
		return nil, fmt.Errorf("relay: login: %w", err)
	}
	switch {
	case a.Disabled:
		return fail("account disabled")
	case !a.LockedAt.IsZero():
		return fail("account locked")
	}
	if !checkPasswordHash(a.PasswordHash, password) {
		s.countFailure(ctx, login, ip)
		return fail("wrong password")
	}
	now := s.now()
	var step int64
	if a.TOTPEnabled() {
		secret, err := s.openTOTP(a.Name, a.TOTPSecret)
		if err != nil {
			return fail("totp secret unreadable")
		}
		var ok bool
		if step, ok = checkTOTP(secret, strings.TrimSpace(code), now, a.TOTPLastStep); !ok {
			s.countFailure(ctx, login, ip)
			return fail("wrong or reused totp code")
		}
	}
	if _, err := st.UpdateAccount(ctx, login, func(a *store.Account) error {
		a.FailedLogins = 0
		if step > 0 {
			a.TOTPLastStep = step
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("relay: login: %w", err)
	}
	token, err := randomToken(SessionTokenPrefix)
	if err != nil {
		return nil, err
	}
	csrf, err := randomToken("")
	if err != nil {
		return nil, err
	}
	id := hashSessionToken(token)
	s.endSessions(ctx, login, id, "superseded by a new sign-in")
	if err := st.CreateSession(ctx, store.Session{ID: id, Account: login, CSRF: csrf, IP: ip,
		CreatedAt: now, LastSeen: now}); err != nil {
		return nil, fmt.Errorf("relay: login: %w", err)
	}
	grants, err := st.Grants(ctx, login)
	if err != nil {
		return nil, fmt.Errorf("relay: login: %w", err)
	}
	restricted := s.restriction(a, grants)
	s.record(ctx, audit.Event{Actor: login, Action: audit.ActionLoginSuccess, IP: ip,
		Details: map[string]any{"session": id[:16], "totp": a.TOTPEnabled(), "restricted": restricted}})
	return &LoginResult{Token: token, CSRF: csrf, Restricted: restricted}, nil
}

// dummyHash is checked against for unknown logins (it matches nothing).
const dummyHash = "$argon2id$v=19$m=65536,t=3,p=2$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

// countFailure counts a failed password or code for login and locks the
// account at the threshold (audited: account.lockout).
func (s *Server) countFailure(ctx context.Context, login, ip string) {
	st, err := s.accountStore()
	if err != nil {
		return
	}
	locked := false
	_, err = st.UpdateAccount(ctx, login, func(a *store.Account) error {
		a.FailedLogins++
		if a.FailedLogins >= s.cfg.Accounts.LockoutThreshold && a.LockedAt.IsZero() {
			a.LockedAt, locked = s.now(), true
		}
		return nil
	})
	if err != nil {
		s.log.Error().Err(err).Msg("count sign-in failure")
		return
	}
	if locked {
		s.log.Warn().Str("account", login).Msg("account locked after repeated failures")
		s.endSessions(ctx, login, "", "account locked")
		s.record(ctx, audit.Event{Actor: "system", Action: audit.ActionAccountLockout, Object: login, IP: ip,
			Reason: fmt.Sprintf("%d consecutive failures", s.cfg.Accounts.LockoutThreshold)})
	}
}

// restriction returns what a must do before anything else, or "".
func (s *Server) restriction(a *store.Account, grants []store.Grant) string {
	switch {
	case a.MustChange || s.passwordExpired(a):
		return restrictPasswordChange
	case !a.TOTPEnabled() && s.totpRequired(grants):
		return restrictTOTPEnrol
	}
	return ""
}

// endSessions ends the live sessions of login but except, each audited
// as a logout with reason.
func (s *Server) endSessions(ctx context.Context, login, except, reason string) {
	st, err := s.accountStore()
	if err != nil {
		return
	}
	ended, err := st.EndAccountSessions(ctx, login, except, s.now(), reason)
	if err != nil {
		s.log.Error().Err(err).Msg("end sessions")
		return
	}
	for _, se := range ended {
		s.record(ctx, audit.Event{Actor: login, Action: audit.ActionLogout, IP: se.IP, Reason: reason,
			Details: map[string]any{"session": se.ID[:16]}})
	}
}

// Logout ends the session of token. Audited (logout).
func (s *Server) Logout(ctx context.Context, token, ip string) error {
	st, err := s.accountStore()
	if err != nil {
		return err
	}
	id := hashSessionToken(token)
	se, err := st.GetSession(ctx, id)
	if err != nil {
		return fmt.Errorf("relay: logout: %w", err)
	}
	if err := st.EndSession(ctx, id, s.now(), "logout"); err != nil {
		return fmt.Errorf("relay: logout: %w", err)
	}
	s.record(ctx, audit.Event{Actor: se.Account, Action: audit.ActionLogout, IP: ip, Reason: "logout",
		Details: map[string]any{"session": id[:16]}})
	return nil
}

// sessionPrincipal authenticates a session token: the session must be
// live, not idle for longer than Accounts.SessionIdleTimeout nor older
// than Accounts.SessionMaxAge (else it ends, audited as session.timeout),
// and its account enabled and unlocked. It refreshes the session's
// LastSeen. An invalid token is [ErrUnauthenticated].
func (s *Server) sessionPrincipal(ctx context.Context, token, ip string, viaCookie bool) (*Principal, error) {
	st, err := s.accountStore()
	if err != nil {
		return nil, err
	}
	id := hashSessionToken(token)
	se, err := st.GetSession(ctx, id)
	if errors.Is(err, store.ErrNotExist) {
		return nil, ErrUnauthenticated
	}
	if err != nil {
		return nil, fmt.Errorf("relay: session: %w", err)
	}
	if !se.EndedAt.IsZero() {
		return nil, ErrUnauthenticated
	}
	now := s.now()
	cfg := s.cfg.Accounts
	idle, old := now.Sub(se.LastSeen) > cfg.SessionIdleTimeout, now.Sub(se.CreatedAt) > cfg.SessionMaxAge
	if idle || old {
		reason := "inactivity"
		if !idle {
			reason = "maximum session age"
		}
		if err := st.EndSession(ctx, id, now, "timeout: "+reason); err == nil {
			s.record(ctx, audit.Event{Actor: se.Account, Action: audit.ActionSessionTimeout, IP: ip, Reason: reason,
				Details: map[string]any{"session": id[:16], "idle_seconds": int64(now.Sub(se.LastSeen) / time.Second)}})
		}
		return nil, ErrUnauthenticated
	}
	a, err := st.GetAccount(ctx, se.Account)
	if err != nil {
		return nil, fmt.Errorf("relay: session: %w", err)
	}
	if a.Disabled || !a.LockedAt.IsZero() {
		return nil, ErrUnauthenticated
	}
	if err := st.TouchSession(ctx, id, now); err != nil {
		return nil, fmt.Errorf("relay: session: %w", err)
	}
	grants, err := st.Grants(ctx, a.Name)
	if err != nil {
		return nil, fmt.Errorf("relay: session: %w", err)
	}
	return &Principal{
		Name:     a.Name,
		Projects: projectsWith(grants, permStudyRead),
		Grants:   grants,
		session:  &callerSession{sess: se, account: a, viaCookie: viaCookie, restricted: s.restriction(a, grants)},
	}, nil
}

// ChangePassword changes the password of p's account after checking the
// current one (a wrong one counts towards lockout), the complexity and
// denylist rules and the history. It lifts a temporary or expired
// password's restriction. Audited (password.change).
func (s *Server) ChangePassword(ctx context.Context, p *Principal, current, next, ip string) error {
	st, err := s.accountStore()
	if err != nil {
		return err
	}
	if p == nil || p.session == nil {
		return ErrUnauthenticated
	}
	a, err := st.GetAccount(ctx, p.Name)
	if err != nil {
		return fmt.Errorf("relay: change password: %w", err)
	}
	if !checkPasswordHash(a.PasswordHash, current) {
		s.countFailure(ctx, a.Name, ip)
		s.record(ctx, audit.Event{Actor: a.Name, Action: audit.ActionAccessDenied, IP: ip,
			Reason: "password change: wrong current password"})
		return fmt.Errorf("%w: the current password is wrong", ErrWeakPassword)
	}
	cfg := &s.cfg.Accounts
	if err := cfg.checkPasswordRules(next, a.Name, a.FullName); err != nil {
		return err
	}
	if current == next {
		return fmt.Errorf("%w: must differ from the current password", ErrWeakPassword)
	}
	if cfg.PasswordHistory > 0 {
		hist, err := st.PasswordHistory(ctx, a.Name, cfg.PasswordHistory)
		if err != nil {
			return fmt.Errorf("relay: change password: %w", err)
		}
		for _, h := range hist {
			if checkPasswordHash(h, next) {
				return fmt.Errorf("%w: must not be one of your last %d passwords", ErrWeakPassword, cfg.PasswordHistory)
			}
		}
	}
	hash, err := cfg.passwordHash(next)
	if err != nil {
		return err
	}
	now := s.now()
	if _, err := st.UpdateAccount(ctx, a.Name, func(a *store.Account) error {
		a.PasswordHash, a.MustChange, a.PasswordChangedAt = hash, false, now
		return nil
	}); err != nil {
		return fmt.Errorf("relay: change password: %w", err)
	}
	if err := st.AddPasswordHistory(ctx, a.Name, hash, now); err != nil {
		return fmt.Errorf("relay: change password: %w", err)
	}
	s.record(ctx, audit.Event{Actor: a.Name, Action: audit.ActionPasswordChange, Object: a.Name, IP: ip,
		Details: map[string]any{"was_temporary": a.MustChange}})
	return nil
}

// StartTOTPEnrolment generates a new TOTP secret for p's account, kept
// pending until [Server.ConfirmTOTP], and returns it with its otpauth URL.
func (s *Server) StartTOTPEnrolment(ctx context.Context, p *Principal) (secret, url string, err error) {
	if p == nil || p.session == nil {
		return "", "", ErrUnauthenticated
	}
	secret, url, err = newTOTPKey(p.Name)
	if err != nil {
		return "", "", err
	}
	res, err := s.resources()
	if err != nil {
		return "", "", err
	}
	sealed, err := res.totp.seal(p.Name, secret)
	if err != nil {
		return "", "", err
	}
	if _, err := s.updateAccount(ctx, p.Name, func(a *store.Account) error {
		a.TOTPPending = sealed
		return nil
	}); err != nil {
		return "", "", fmt.Errorf("relay: totp enrolment: %w", err)
	}
	return secret, url, nil
}

// ConfirmTOTP enables the pending TOTP secret of p's account when code
// matches it. Audited (config.change, reason "totp enrolled").
func (s *Server) ConfirmTOTP(ctx context.Context, p *Principal, code, ip string) error {
	if p == nil || p.session == nil {
		return ErrUnauthenticated
	}
	now := s.now()
	errBadCode := fmt.Errorf("%w: wrong code", ErrLoginFailed)
	_, err := s.updateAccount(ctx, p.Name, func(a *store.Account) error {
		pending, err := s.openTOTP(a.Name, a.TOTPPending)
		if err != nil {
			return err
		}
		step, ok := checkTOTP(pending, strings.TrimSpace(code), now, 0)
		if pending == "" || !ok {
			return errBadCode
		}
		// Sealed for the account, not for the field: it moves as it is.
		a.TOTPSecret, a.TOTPPending, a.TOTPLastStep = a.TOTPPending, "", step
		return nil
	})
	if errors.Is(err, errBadCode) {
		return errBadCode
	}
	if err != nil {
		return fmt.Errorf("relay: totp confirm: %w", err)
	}
	s.record(ctx, audit.Event{Actor: p.Name, Action: audit.ActionConfigChange, Object: p.Name, IP: ip,
		Reason: "totp enrolled"})
	return nil
}
