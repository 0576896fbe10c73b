package relay

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"dicomgate/audit"
	"dicomgate/seal"
	"dicomgate/store"
)

// fakeClock is a settable clock for sessions, ageing and TOTP.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// testAccounts are fast argon2 parameters and small limits for tests.
func testAccounts() AccountsConfig {
	return AccountsConfig{Argon2MemoryKiB: 64, Argon2Iterations: 1, Argon2Threads: 1, LockoutThreshold: 3,
		PasswordHistory: 3, SessionIdleTimeout: 15 * time.Minute}
}

// acctEnv is a running relay with accounts and an injected clock.
type acctEnv struct {
	*env
	clock *fakeClock
}

// startAccountRelay runs a relay like startRelay, with accounts config
// acc and a fake clock.
func startAccountRelay(t *testing.T, acc AccountsConfig) *acctEnv {
	t.Helper()
	lab, err := seal.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	token, hash, err := NewReaderToken()
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{t: time.Now().UTC()}
	cfg := Config{
		Listen: "127.0.0.1:0", APIListen: "127.0.0.1:0", DataDir: t.TempDir(),
		Projects: []ProjectConfig{
			{ID: testProject, Recipients: []string{lab.Recipient().String()}, PolicyHashes: []string{testPolicyHash}},
			{ID: "other"},
		},
		Readers:         []ReaderConfig{{Name: "core-lab", TokenHash: hash, Projects: []string{testProject}}},
		ShutdownTimeout: 5 * time.Second,
		Accounts:        acc,
	}
	logs := &syncBuffer{}
	srv, err := New(cfg, zerolog.New(logs).Level(zerolog.DebugLevel), WithClock(clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	select {
	case <-srv.Ready():
	case err := <-done:
		cancel()
		t.Fatalf("relay did not start: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("relay run: %v", err)
		}
	})
	pin, err := srv.CAFingerprint()
	if err != nil {
		t.Fatal(err)
	}
	rk, err := srv.ReceiptKey()
	if err != nil {
		t.Fatal(err)
	}
	return &acctEnv{env: &env{srv: srv, cfg: srv.cfg, lab: lab, token: token, logs: logs, caPin: pin,
		apiURL: "https://" + srv.APIAddr().String(), receipt: rk}, clock: clock}
}

// call sends a JSON API request with a bearer token (may be empty) and
// returns the status and body.
func (e *acctEnv) call(t *testing.T, method, path, token string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, e.apiURL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := e.client("").http().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// newAccount creates an account with grants and returns its temporary
// password.
func (e *acctEnv) newAccount(t *testing.T, login string, grants ...store.Grant) string {
	t.Helper()
	pw, err := e.srv.CreateAccount(context.Background(), "test", login, "Test "+login, grants)
	if err != nil {
		t.Fatal(err)
	}
	return pw
}

// login signs in and returns the session token; it fails the test
// unless the status is 200.
func (e *acctEnv) login(t *testing.T, login, password, code string) *LoginResult {
	t.Helper()
	st, b := e.call(t, "POST", "/api/v1/session", "", loginRequest{Login: login, Password: password, TOTP: code})
	if st != http.StatusOK {
		t.Fatalf("login %s: %d %s", login, st, b)
	}
	var res LoginResult
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	return &res
}

// ready creates an account with grants, changes its temporary password to
// newPassword(login) and returns a live session token.
func (e *acctEnv) ready(t *testing.T, login string, grants ...store.Grant) string {
	t.Helper()
	tmp := e.newAccount(t, login, grants...)
	res := e.login(t, login, tmp, "")
	if st, b := e.call(t, "POST", "/api/v1/account/password", res.Token,
		map[string]string{"current": tmp, "new": newPassword(login)}); st != http.StatusNoContent {
		t.Fatalf("change password: %d %s", st, b)
	}
	return res.Token
}

// newPassword is a valid password for login.
func newPassword(login string) string { return "Kx7#vq2-Lw9!" + string(rune('A'+len(login)%26)) }

// auditCount counts the audit entries matching f.
func (e *acctEnv) auditCount(t *testing.T, f audit.Filter) int {
	t.Helper()
	return len(e.auditEntries(t, f))
}

// lastAudit returns the last audit entry matching f, or fails.
func (e *acctEnv) lastAudit(t *testing.T, f audit.Filter) audit.Entry {
	t.Helper()
	return lastEntry(t, e.env, f)
}

// grant is a shorthand.
func grant(project string, r Role) store.Grant { return store.Grant{Project: project, Role: string(r)} }
