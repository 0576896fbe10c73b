package relay

import (
	"fmt"
	"time"
)

// Defaults of [AccountsConfig] fields.
const (
	DefaultPasswordMinLength    = 12
	DefaultPasswordMinClasses   = 3
	DefaultPasswordHistory      = 5
	DefaultPasswordMaxAge       = 90 * 24 * time.Hour
	DefaultLockoutThreshold     = 5
	DefaultSessionIdleTimeout   = 15 * time.Minute
	DefaultSessionMaxAge        = 12 * time.Hour
	DefaultArgon2MemoryKiB      = 64 * 1024
	DefaultArgon2Iterations     = 3
	DefaultArgon2Threads        = 2
	minPasswordLength           = 8
	maxPasswordLength           = 256
	defaultTemporaryPasswordLen = 4 // groups of 5 characters
)

// AccountsConfig is the accounts: section of relay.yaml: the password,
// lockout, second-factor and session rules of 21 CFR 11.300. The zero
// value, after defaults, is a sound production setting.
type AccountsConfig struct {
	// PasswordMinLength is the shortest password accepted (at least 8).
	// Default 12.
	PasswordMinLength int `yaml:"password_min_length"`

	// PasswordMinClasses is how many of the four character classes
	// (lower case, upper case, digits, other) a password must mix, 1..4.
	// Default 3.
	PasswordMinClasses int `yaml:"password_min_classes"`

	// PasswordDenylist adds words no password may contain (case
	// insensitive) to the built-in list of common and obvious passwords;
	// the account's own login and name are always refused too.
	// Default: none.
	PasswordDenylist []string `yaml:"password_denylist"`

	// PasswordHistory is how many previous passwords may not be reused.
	// Default 5; negative turns the check off.
	PasswordHistory int `yaml:"password_history"`

	// PasswordMaxAge is how long a password stays valid; after that its
	// owner must change it before doing anything else. Default 2160h (90
	// days); negative turns ageing off.
	PasswordMaxAge time.Duration `yaml:"password_max_age"`

	// LockoutThreshold is the number of consecutive failed sign-ins (or
	// signature attempts) that locks an account until an admin unlocks
	// it. Default 5.
	LockoutThreshold int `yaml:"lockout_threshold"`

	// TOTPRequiredRoles are the roles whose holders must enrol a TOTP
	// second factor (RFC 6238) before doing anything else; e.g. [admin].
	// Anyone may enrol voluntarily. Default: none.
	TOTPRequiredRoles []string `yaml:"totp_required_roles"`

	// SessionIdleTimeout ends a session after this long without a
	// request. Default 15m.
	SessionIdleTimeout time.Duration `yaml:"session_idle_timeout"`

	// SessionMaxAge ends a session this long after sign-in whatever its
	// activity. Default 12h.
	SessionMaxAge time.Duration `yaml:"session_max_age"`

	// Argon2MemoryKiB, Argon2Iterations and Argon2Threads are the argon2id
	// parameters of new password hashes (stored with each hash, so
	// changing them never breaks existing ones). Defaults 65536 (64 MiB),
	// 3 and 2.
	Argon2MemoryKiB  uint32 `yaml:"argon2_memory_kib"`
	Argon2Iterations uint32 `yaml:"argon2_iterations"`
	Argon2Threads    uint8  `yaml:"argon2_threads"`
}

// setDefaults replaces zero fields with their defaults.
func (c *AccountsConfig) setDefaults() {
	defInt := func(p *int, v int) {
		if *p == 0 {
			*p = v
		}
	}
	defDur := func(p *time.Duration, v time.Duration) {
		if *p == 0 {
			*p = v
		}
	}
	defInt(&c.PasswordMinLength, DefaultPasswordMinLength)
	defInt(&c.PasswordMinClasses, DefaultPasswordMinClasses)
	defInt(&c.PasswordHistory, DefaultPasswordHistory)
	defInt(&c.LockoutThreshold, DefaultLockoutThreshold)
	defDur(&c.PasswordMaxAge, DefaultPasswordMaxAge)
	defDur(&c.SessionIdleTimeout, DefaultSessionIdleTimeout)
	defDur(&c.SessionMaxAge, DefaultSessionMaxAge)
	if c.Argon2MemoryKiB == 0 {
		c.Argon2MemoryKiB = DefaultArgon2MemoryKiB
	}
	if c.Argon2Iterations == 0 {
		c.Argon2Iterations = DefaultArgon2Iterations
	}
	if c.Argon2Threads == 0 {
		c.Argon2Threads = DefaultArgon2Threads
	}
}

// validate reports every problem of the section, after setDefaults.
func (c *AccountsConfig) validate() []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.PasswordMinLength < minPasswordLength || c.PasswordMinLength > maxPasswordLength {
		add("accounts.password_min_length: must be %d..%d", minPasswordLength, maxPasswordLength)
	}
	if c.PasswordMinClasses < 1 || c.PasswordMinClasses > 4 {
		add("accounts.password_min_classes: must be 1..4")
	}
	if c.LockoutThreshold < 1 {
		add("accounts.lockout_threshold: must be at least 1")
	}
	if c.SessionIdleTimeout < 0 || c.SessionMaxAge < 0 {
		add("accounts.session_idle_timeout, session_max_age: must be positive")
	}
	for i, r := range c.TOTPRequiredRoles {
		if !Role(r).valid() {
			add("accounts.totp_required_roles[%d]: unknown role %q", i, r)
		}
	}
	if c.Argon2MemoryKiB < 8*uint32(c.Argon2Threads) || c.Argon2Iterations < 1 {
		add("accounts.argon2_*: memory must be at least 8 KiB per thread and iterations at least 1")
	}
	return errs
}
