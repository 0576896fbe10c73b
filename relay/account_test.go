package relay

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"dicomgate/audit"
)

func TestPasswordRules(t *testing.T) {
	c := AccountsConfig{PasswordDenylist: []string{"trialxyz"}}
	c.setDefaults()
	tests := []struct {
		pw string
		ok bool
	}{
		{"Kx7#vq2-Lw9!", true},
		{"short1A!", false},            // too short
		{"alllowercaseletters", false}, // one class
		{"Password123!x", false},       // common word
		{"Zz9-Trialxyz-Qq", false},     // configured denylist
		{"Zz9-jdoe-Qq-rr", false},      // own login
		{"Zz9-Smithers-Qq", false},     // own name
		{"Zz9-qwerty-Qq-rr", false},    // common
		{"correct-Horse-7-battery", true},
	}
	for _, tc := range tests {
		err := c.checkPasswordRules(tc.pw, "jdoe", "Jane Smithers")
		if (err == nil) != tc.ok {
			t.Errorf("%q: err = %v, want ok %v", tc.pw, err, tc.ok)
		}
		if err != nil && (!errors.Is(err, ErrWeakPassword) || strings.Contains(err.Error(), tc.pw)) {
			t.Errorf("%q: bad error %v", tc.pw, err)
		}
	}
	for range 20 {
		tmp, err := newTemporaryPassword()
		if err != nil {
			t.Fatal(err)
		}
		if err := c.checkPasswordRules(tmp, "x", "Y"); err != nil {
			t.Fatalf("temporary password %q refused: %v", tmp, err)
		}
	}
}

func TestPasswordHash(t *testing.T) {
	c := testAccounts()
	c.setDefaults()
	h, err := c.passwordHash("Kx7#vq2-Lw9!")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=64,t=1,p=1$") || !checkPasswordHash(h, "Kx7#vq2-Lw9!") ||
		checkPasswordHash(h, "Kx7#vq2-Lw9?") || checkPasswordHash("garbage", "x") {
		t.Fatalf("hash %q does not check", h)
	}
}

func TestTemporaryPasswordForcesChange(t *testing.T) {
	e := startAccountRelay(t, testAccounts())
	tmp := e.newAccount(t, "alice", grant(testProject, RoleCorelabReader))
	res := e.login(t, "alice", tmp, "")
	if res.Restricted != restrictPasswordChange {
		t.Fatalf("restricted = %q", res.Restricted)
	}
	before := e.auditCount(t, audit.Filter{Action: audit.ActionAccessDenied, Actor: "alice"})
	if st, _ := e.call(t, "GET", "/api/v1/projects/"+testProject+"/studies", res.Token, nil); st != http.StatusForbidden {
		t.Fatalf("studies before change: %d, want 403", st)
	}
	if e.auditCount(t, audit.Filter{Action: audit.ActionAccessDenied, Actor: "alice"}) != before+1 {
		t.Fatal("refusal not audited")
	}
	if st, _ := e.call(t, "POST", "/api/v1/account/password", res.Token, map[string]string{"current": tmp, "new": "alice-Secret-99"}); st != http.StatusUnprocessableEntity {
		t.Fatalf("password with own login: %d", st)
	}
	if st, b := e.call(t, "POST", "/api/v1/account/password", res.Token, map[string]string{"current": tmp, "new": newPassword("alice")}); st != http.StatusNoContent {
		t.Fatalf("change: %d %s", st, b)
	}
	if st, _ := e.call(t, "GET", "/api/v1/projects/"+testProject+"/studies", res.Token, nil); st != http.StatusOK {
		t.Fatalf("studies after change: %d", st)
	}
	e.lastAudit(t, audit.Filter{Action: audit.ActionPasswordChange, Actor: "alice"})
}

func TestPasswordReuseRefused(t *testing.T) {
	e := startAccountRelay(t, testAccounts())
	tok := e.ready(t, "bob", grant(testProject, RoleAuditor))
	pws := []string{newPassword("bob"), "Second-pw-71x", "Third-pw-72xy", "Fourth-pw-73z"}
	change := func(cur, next string) int {
		st, _ := e.call(t, "POST", "/api/v1/account/password", tok, map[string]string{"current": cur, "new": next})
		return st
	}
	for i := 1; i < len(pws); i++ {
		if st := change(pws[i-1], pws[i]); st != http.StatusNoContent {
			t.Fatalf("change %d: %d", i, st)
		}
	}
	// History 3: the last three (pws[1..3]) are refused, the fourth back is allowed.
	for _, old := range pws[1:3] {
		if st := change(pws[3], old); st != http.StatusUnprocessableEntity {
			t.Fatalf("reuse of a recent password: %d, want 422", st)
		}
	}
	if st := change(pws[3], pws[0]); st != http.StatusNoContent {
		t.Fatalf("reuse beyond history: %d", st)
	}
}

func TestLockout(t *testing.T) {
	e := startAccountRelay(t, testAccounts())
	e.ready(t, "carol", grant(testProject, RoleCorelabReader))
	for i := range 3 {
		if st, _ := e.call(t, "POST", "/api/v1/session", "", loginRequest{Login: "carol", Password: "wrong-" + string(rune('a'+i))}); st != http.StatusUnauthorized {
			t.Fatalf("bad login %d: %d", i, st)
		}
	}
	lock := e.lastAudit(t, audit.Filter{Action: audit.ActionAccountLockout})
	if lock.Object != "carol" {
		t.Fatalf("lockout event %+v", lock)
	}
	fail := e.lastAudit(t, audit.Filter{Action: audit.ActionLoginFailure, Actor: "carol"})
	if fail.IP == "" || fail.Reason != "wrong password" {
		t.Fatalf("failure event %+v", fail)
	}
	// The right password no longer works.
	if st, _ := e.call(t, "POST", "/api/v1/session", "", loginRequest{Login: "carol", Password: newPassword("carol")}); st != http.StatusUnauthorized {
		t.Fatalf("locked login: %d", st)
	}
	if e.lastAudit(t, audit.Filter{Action: audit.ActionLoginFailure, Actor: "carol"}).Reason != "account locked" {
		t.Fatal("locked sign-in not audited as such")
	}
	if err := e.srv.UnlockAccount(context.Background(), "admin-x", "carol"); err != nil {
		t.Fatal(err)
	}
	if ev := e.lastAudit(t, audit.Filter{Action: audit.ActionAccountEnable}); ev.Reason != "unlock" || ev.Actor != "admin-x" {
		t.Fatalf("unlock event %+v", ev)
	}
	e.login(t, "carol", newPassword("carol"), "")
}

func TestSingleSession(t *testing.T) {
	e := startAccountRelay(t, testAccounts())
	first := e.ready(t, "dave", grant(testProject, RoleCorelabReader))
	second := e.login(t, "dave", newPassword("dave"), "").Token
	if st, _ := e.call(t, "GET", "/api/v1/session", first, nil); st != http.StatusUnauthorized {
		t.Fatalf("old session still works: %d", st)
	}
	if st, _ := e.call(t, "GET", "/api/v1/session", second, nil); st != http.StatusOK {
		t.Fatalf("new session: %d", st)
	}
	if ev := e.lastAudit(t, audit.Filter{Action: audit.ActionLogout, Actor: "dave"}); !strings.Contains(ev.Reason, "superseded") {
		t.Fatalf("logout event %+v", ev)
	}
	if st, _ := e.call(t, "DELETE", "/api/v1/session", second, nil); st != http.StatusNoContent {
		t.Fatalf("logout: %d", st)
	}
	if st, _ := e.call(t, "GET", "/api/v1/session", second, nil); st != http.StatusUnauthorized {
		t.Fatalf("session after logout: %d", st)
	}
}

func TestInactivityTimeout(t *testing.T) {
	e := startAccountRelay(t, testAccounts())
	tok := e.ready(t, "erin", grant(testProject, RoleCorelabReader))
	e.clock.Advance(14 * time.Minute)
	if st, _ := e.call(t, "GET", "/api/v1/session", tok, nil); st != http.StatusOK {
		t.Fatalf("active session: %d", st)
	}
	e.clock.Advance(14 * time.Minute) // 14 min since the last request: still fine
	if st, _ := e.call(t, "GET", "/api/v1/session", tok, nil); st != http.StatusOK {
		t.Fatalf("active session: %d", st)
	}
	e.clock.Advance(16 * time.Minute)
	if st, _ := e.call(t, "GET", "/api/v1/session", tok, nil); st != http.StatusUnauthorized {
		t.Fatalf("idle session: %d", st)
	}
	if ev := e.lastAudit(t, audit.Filter{Action: audit.ActionSessionTimeout}); ev.Actor != "erin" {
		t.Fatalf("timeout event %+v", ev)
	}
}

func TestPasswordAgeing(t *testing.T) {
	acc := testAccounts()
	acc.PasswordMaxAge = 24 * time.Hour
	acc.SessionIdleTimeout = 48 * time.Hour
	acc.SessionMaxAge = 96 * time.Hour
	e := startAccountRelay(t, acc)
	e.ready(t, "gus", grant(testProject, RoleCorelabReader))
	e.clock.Advance(25 * time.Hour)
	if res := e.login(t, "gus", newPassword("gus"), ""); res.Restricted != restrictPasswordChange {
		t.Fatalf("expired password not restricted: %+v", res)
	}
}

func TestTOTP(t *testing.T) {
	acc := testAccounts()
	acc.TOTPRequiredRoles = []string{"admin"}
	e := startAccountRelay(t, acc)
	tok := e.ready(t, "fay", grant(AllProjects, RoleAdmin))
	if st, _ := e.call(t, "GET", "/api/v1/users", tok, nil); st != http.StatusForbidden {
		t.Fatalf("admin without totp: %d, want 403", st)
	}
	secret, _, err := e.srv.StartTOTPEnrolment(context.Background(), &Principal{Name: "fay", session: &callerSession{}})
	if err != nil {
		t.Fatal(err)
	}
	code, _ := totpCode(secret, e.clock.Now())
	if st, b := e.call(t, "POST", "/api/v1/account/totp/confirm", tok, map[string]string{"code": code}); st != http.StatusNoContent {
		t.Fatalf("confirm: %d %s", st, b)
	}
	if st, _ := e.call(t, "POST", "/api/v1/session", "", loginRequest{Login: "fay", Password: newPassword("fay")}); st != http.StatusUnauthorized {
		t.Fatalf("login without code: %d", st)
	}
	// The code used to enrol cannot be replayed; the next one works.
	e.clock.Advance(30 * time.Second)
	code, _ = totpCode(secret, e.clock.Now())
	res := e.login(t, "fay", newPassword("fay"), code)
	if st, _ := e.call(t, "GET", "/api/v1/users", res.Token, nil); st != http.StatusOK {
		t.Fatalf("admin with totp: %d", st)
	}
}

func TestAccountLifecycle(t *testing.T) {
	e := startAccountRelay(t, testAccounts())
	ctx := context.Background()
	tok := e.ready(t, "hal", grant(testProject, RoleCorelabReader))
	if _, err := e.srv.CreateAccount(ctx, "test", "hal", "Other", nil); !errors.Is(err, ErrAccountExists) {
		t.Fatalf("duplicate: %v", err)
	}
	if err := e.srv.DeleteAccount(ctx, "test", "hal"); !errors.Is(err, ErrAccountHasRecords) {
		t.Fatalf("delete: %v", err)
	}
	if err := e.srv.SetAccountEnabled(ctx, "test", "hal", false); err != nil {
		t.Fatal(err)
	}
	if st, _ := e.call(t, "GET", "/api/v1/session", tok, nil); st != http.StatusUnauthorized {
		t.Fatalf("disabled account's session: %d", st)
	}
	if st, _ := e.call(t, "POST", "/api/v1/session", "", loginRequest{Login: "hal", Password: newPassword("hal")}); st != http.StatusUnauthorized {
		t.Fatalf("disabled login: %d", st)
	}
	if err := e.srv.SetAccountEnabled(ctx, "test", "hal", true); err != nil {
		t.Fatal(err)
	}
	tmp, err := e.srv.ResetPassword(ctx, "test", "hal")
	if err != nil {
		t.Fatal(err)
	}
	if res := e.login(t, "hal", tmp, ""); res.Restricted != restrictPasswordChange {
		t.Fatal("reset password is not temporary")
	}
	for _, a := range []audit.Action{audit.ActionAccountCreate, audit.ActionAccountDisable, audit.ActionAccountEnable,
		audit.ActionPasswordReset, audit.ActionAccountRole, audit.ActionLoginSuccess} {
		e.lastAudit(t, audit.Filter{Action: a})
	}
}
