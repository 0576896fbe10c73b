package relay

import (
	"context"
	"crypto/ed25519"
	"net/http"
	"strings"
	"testing"
	"time"

	"dicomgate/store"
)

// TOTP secrets are sealed in the account store: the database holds no
// secret in clear, a sealed secret does not open for another account,
// and secrets stored in clear by an older relay are sealed at start and
// keep working.
func TestTOTPSecretSealedAtRest(t *testing.T) {
	e := startAccountRelay(t, testAccounts())
	ctx := context.Background()
	e.ready(t, "fay", grant(testProject, RoleCorelabReader))
	e.ready(t, "gus", grant(testProject, RoleCorelabReader))
	res, err := e.srv.resources()
	if err != nil {
		t.Fatal(err)
	}
	st := res.accounts
	enrol := func(name string) string {
		t.Helper()
		secret, _, err := e.srv.StartTOTPEnrolment(ctx, &Principal{Name: name, session: &callerSession{}})
		if err != nil {
			t.Fatal(err)
		}
		code, _ := totpCode(secret, e.clock.Now())
		if err := e.srv.ConfirmTOTP(ctx, &Principal{Name: name, session: &callerSession{}}, code, "127.0.0.1"); err != nil {
			t.Fatalf("confirm %s: %v", name, err)
		}
		return secret
	}
	fay := enrol("fay")
	a, err := st.GetAccount(ctx, "fay")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(a.TOTPSecret, totpSealedPrefix) || strings.Contains(a.TOTPSecret, fay) || a.TOTPPending != "" {
		t.Fatalf("stored secret %q (pending %q): not sealed", a.TOTPSecret, a.TOTPPending)
	}
	e.clock.Advance(30 * time.Second)
	code, _ := totpCode(fay, e.clock.Now())
	e.login(t, "fay", newPassword("fay"), code)

	// fay's sealed secret copied into gus's row does not open there.
	gus := enrol("gus")
	if _, err := st.UpdateAccount(ctx, "gus", func(g *store.Account) error {
		g.TOTPSecret = a.TOTPSecret
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(30 * time.Second)
	code, _ = totpCode(fay, e.clock.Now())
	if st, _ := e.call(t, "POST", "/api/v1/session", "", loginRequest{Login: "gus", Password: newPassword("gus"), TOTP: code}); st != http.StatusUnauthorized {
		t.Fatalf("gus with fay's moved secret: %d, want 401", st)
	}
	if !strings.Contains(e.logs.String(), "totp check impossible") {
		t.Errorf("no log line says why gus cannot sign in")
	}

	// A secret in clear (an older relay's row) is sealed at start.
	if _, err := st.UpdateAccount(ctx, "gus", func(g *store.Account) error {
		g.TOTPSecret, g.FailedLogins = gus, 0
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n, err := sealLegacyTOTP(ctx, st, res.totp); err != nil || n != 1 {
		t.Fatalf("sealLegacyTOTP = %d, %v; want 1 account", n, err)
	}
	g, err := st.GetAccount(ctx, "gus")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(g.TOTPSecret, totpSealedPrefix) || strings.Contains(g.TOTPSecret, gus) {
		t.Fatalf("legacy secret still in clear: %q", g.TOTPSecret)
	}
	if n, err := sealLegacyTOTP(ctx, st, res.totp); err != nil || n != 0 {
		t.Fatalf("second sealLegacyTOTP = %d, %v; want 0", n, err)
	}
	e.clock.Advance(30 * time.Second)
	code, _ = totpCode(gus, e.clock.Now())
	e.login(t, "gus", newPassword("gus"), code)
}

func TestTOTPBox(t *testing.T) {
	_, k1, _ := ed25519.GenerateKey(nil)
	_, k2, _ := ed25519.GenerateKey(nil)
	b1, err := newTOTPBox(k1)
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := newTOTPBox(k2)
	v, err := b1.seal("fay", "JBSWY3DPEHPK3PXP")
	if err != nil {
		t.Fatal(err)
	}
	if w, _ := b1.seal("fay", "JBSWY3DPEHPK3PXP"); w == v {
		t.Errorf("two seals of one secret are equal: the nonce is not random")
	}
	if got, err := b1.open("fay", v); err != nil || got != "JBSWY3DPEHPK3PXP" {
		t.Fatalf("open = %q, %v", got, err)
	}
	for name, tc := range map[string]struct {
		b       *totpBox
		account string
		v       string
	}{
		"other relay key": {b2, "fay", v},
		"other account":   {b1, "gus", v},
		"truncated":       {b1, "fay", v[:len(v)-4]},
		"not base64":      {b1, "fay", totpSealedPrefix + "!!"},
		"flipped":         {b1, "fay", v[:len(v)-2] + map[bool]string{true: "AA", false: "BB"}[v[len(v)-2:] != "AA"]},
	} {
		if got, err := tc.b.open(tc.account, tc.v); err != errTOTPUnreadable || got != "" {
			t.Errorf("%s: open = %q, %v; want errTOTPUnreadable", name, got, err)
		}
	}
	if got, err := b1.open("fay", "JBSWY3DPEHPK3PXP"); err != nil || got != "JBSWY3DPEHPK3PXP" {
		t.Errorf("legacy clear secret: %q, %v", got, err)
	}
	if v, err := b1.seal("fay", ""); err != nil || v != "" {
		t.Errorf("empty secret sealed to %q, %v", v, err)
	}
}
