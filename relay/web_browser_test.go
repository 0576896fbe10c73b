package relay

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"dicomgate/audit"
)

// chromiumPath finds Debian's chromium; the test skips without it, and
// fails when CI=true.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is required in CI (apt-get install -y chromium)")
	}
	t.Skip("chromium not installed (apt-get install -y chromium)")
	return ""
}

// TestBrowserPart11 drives the web UI in headless Chromium against a
// relay on 127.0.0.1: sign-in with a temporary password and the forced
// change, lockout after repeated failures with the dashboard alert,
// policy approval with an electronic signature, and a signed audit
// export.
func TestBrowserPart11(t *testing.T) {
	exe := chromiumPath(t)
	e := startAccountRelay(t, testAccounts())
	ctx := context.Background()
	adminTmp := e.newAccount(t, "ada", grant(AllProjects, RoleAdmin))
	lucyTmp := e.newAccount(t, "lucy", grant(testProject, RoleCorelabReader))
	_ = lucyTmp

	opts := append(chromedp.DefaultExecAllocatorOptions[:],

		chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("no-first-run", true),
		// The relay's certificate comes from its own CA, made for this test.
		chromedp.Flag("ignore-certificate-errors", true),
	)
	actx, cancelA := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelA()
	bctx, cancelB := chromedp.NewContext(actx)
	defer cancelB()
	bctx, cancelT := context.WithTimeout(bctx, 90*time.Second)
	defer cancelT()
	base := e.apiURL
	run := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(bctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	text := func(what string, a chromedp.Action[string]) string {
		t.Helper()
		v, err := chromedp.Run(bctx, a)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return v
	}
	signIn := func(login, pw string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			return chromedp.Do(ctx,
				chromedp.Navigate(base+"/ui/login"),
				chromedp.WaitVisible(chromedp.ID("login")),
				chromedp.SendKeys(chromedp.ID("login"), login),
				chromedp.SendKeys(chromedp.ID("password"), pw),
				chromedp.Click(chromedp.ID("submit")))
		})
	}

	// 1. Lockout: three wrong passwords lock lucy; then the right one fails too.
	for i := range 3 {
		run("wrong sign-in", signIn("lucy", "Wrong-password-"+string(rune('a'+i))), chromedp.WaitVisible(chromedp.ID("error")))
	}
	run("locked sign-in", signIn("lucy", lucyTmp), chromedp.WaitVisible(chromedp.ID("error")))
	if ev := e.lastAudit(t, audit.Filter{Action: audit.ActionAccountLockout}); ev.Object != "lucy" {
		t.Fatalf("lockout event %+v", ev)
	}

	// 2. Temporary password: the first page is the forced change.
	run("admin sign-in", signIn("ada", adminTmp), chromedp.WaitVisible(chromedp.ID("must-change")))
	run("forced change",
		chromedp.SendKeys(chromedp.ID("current"), adminTmp),
		chromedp.SendKeys(chromedp.ID("new"), newPassword("ada")),
		chromedp.SendKeys(chromedp.ID("confirm"), newPassword("ada")),
		chromedp.Click(chromedp.ID("change")),
		chromedp.WaitVisible(chromedp.ID("lockout-alert")))
	title := text("title", chromedp.Title())
	if !strings.HasPrefix(title, "Dashboard") {
		t.Fatalf("after the change: %q", title)
	}
	alert := text("lockout alert", chromedp.Text(chromedp.ID("lockout-alert")))
	if !strings.Contains(alert, "lucy") {
		t.Fatalf("lockout alert %q", alert)
	}

	// 3. Policy: save, then approve with a signature.
	run("new policy",
		chromedp.Navigate(base+"/ui/policies/new"),
		chromedp.WaitVisible(chromedp.ID("yaml")),
		chromedp.SetValue(chromedp.ID("yaml"), "id: trial\nversion: 1\nprofile: basic\nnope: 1\n"),
		chromedp.Click(chromedp.ID("save-policy")),
		chromedp.WaitVisible(chromedp.ID("problems")))
	problems := text("problems", chromedp.Text(chromedp.ID("problems")))
	if !strings.Contains(problems, "line 4") {
		t.Fatalf("validation problems without the line: %q", problems)
	}
	run("save policy",
		chromedp.SetValue(chromedp.ID("yaml"), "id: trial\nversion: 1\nprofile: basic\n"),
		chromedp.Click(chromedp.ID("save-policy")),
		chromedp.WaitVisible(chromedp.ID("policy-hash")),
		chromedp.SetValue(chromedp.ID("approve-project"), testProject),
		chromedp.SendKeys(chromedp.ID("sign_password"), newPassword("ada")),
		chromedp.SetValue(chromedp.ID("meaning"), "approval"),
		chromedp.Click(chromedp.ID("approve")),
		chromedp.WaitNotPresent(chromedp.ID("no-approvals")))
	ev := e.lastAudit(t, audit.Filter{Action: audit.ActionPolicyApprove})
	if ev.Actor != "ada" || ev.Project != testProject || ev.Details["printed_name"] != "Test ada" {
		t.Fatalf("approval event %+v", ev)
	}

	// 4. Signed audit export, downloaded by the browser.
	dl := t.TempDir()
	run("export",
		chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			_, err := chromedp.Call(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
				Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: dl})
			return err
		}),
		chromedp.Navigate(base+"/ui/audit"),
		chromedp.WaitVisible(chromedp.ID("export")),
		chromedp.SetValue(chromedp.ID("format"), "json"),
		chromedp.SendKeys(chromedp.ID("sign_password"), newPassword("ada")),
		chromedp.SetValue(chromedp.ID("meaning"), "review"),
		chromedp.Click(chromedp.ID("export")))
	var got []byte
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline) && got == nil; time.Sleep(200 * time.Millisecond) {
		ms, _ := filepath.Glob(filepath.Join(dl, "audit-*.json"))
		if len(ms) == 1 {
			got, _ = os.ReadFile(ms[0])
		}
	}
	if !strings.Contains(string(got), "policy.approve") {
		t.Fatalf("downloaded export: %.300q", got)
	}
	if ev := e.lastAudit(t, audit.Filter{Action: audit.ActionExport}); ev.Actor != "ada" || !strings.Contains(ev.Reason, "e-signature") {
		t.Fatalf("export event %+v", ev)
	}
}
