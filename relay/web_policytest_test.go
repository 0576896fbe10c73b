package relay

import (
	"bytes"
	"context"
	"encoding/json"
	"html"
	"io"
	"io/fs"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"dicomgate/audit"
	"dicomgate/internal/dicomtest"
	"dicomgate/policy"
)

// testerPolicy blanks a corner of every CT image.
const testerPolicy = `id: tester
version: 1
profile: basic
pixel_rules:
  - name: corner
    when: {Modality: CT}
    regions: [{x: 0, y: 0, w: 8, h: 4}]
`

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// uiGet fetches a page with the session cookie; it returns the status,
// body and the page's CSRF token.
func uiGet(t *testing.T, e *acctEnv, path, cookie string) (int, string, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", e.apiURL+path, nil)
	req.AddCookie(&http.Cookie{Name: sessionCookie, Value: cookie})
	resp, err := noRedirect(e.env).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	csrf := ""
	if m := csrfField.FindSubmatch(b); m != nil {
		csrf = string(m[1])
	}
	return resp.StatusCode, string(b), csrf
}

// uploadSample posts sample to the tester as the browser form does.
func uploadSample(t *testing.T, e *acctEnv, rev int64, cookie, csrf, project string, show bool, sample []byte) (*http.Response, string) {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("csrf", csrf)
	mw.WriteField("project", project)
	if show {
		mw.WriteField("show_originals", "1")
	}
	fw, _ := mw.CreateFormFile("sample", "sample.dcm")
	fw.Write(sample)
	mw.Close()
	req, _ := http.NewRequest("POST", e.apiURL+"/ui/policies/"+strconv.FormatInt(rev, 10)+"/test", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.AddCookie(&http.Cookie{Name: sessionCookie, Value: cookie})
	resp, err := noRedirect(e.env).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// multipartTemps lists mime/multipart's temporary files.
func multipartTemps(t *testing.T) []string {
	m, err := filepath.Glob(filepath.Join(os.TempDir(), "multipart-*"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestPolicyTester(t *testing.T) {
	ctx := context.Background()
	e := startAccountRelay(t, testAccounts())
	rev, err := e.srv.SavePolicy(ctx, "test", testerPolicy, "")
	if err != nil {
		t.Fatal(err)
	}
	sample, err := dicomtest.New(11).CTSlice(dicomtest.SliceOptions{Rows: 24, Cols: 32})
	if err != nil {
		t.Fatal(err)
	}
	// The planted values: every original the policy changes.
	pol, err := policy.Parse("p.yaml", []byte(testerPolicy), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ref, err := policy.Test(ctx, pol, []byte("0123456789abcdef0123456789abcdef"), bytes.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	var planted []string
	patientName := ""
	for _, r := range ref.Rows {
		if len(r.Original) >= 8 && r.Original != r.New && !strings.HasPrefix(r.Original, "<") {
			planted = append(planted, r.Original)
		}
		if r.Path == "PatientName" {
			patientName = r.Original
		}
	}
	if patientName == "" || len(planted) < 5 {
		t.Fatalf("sample has too few planted values: %q", planted)
	}
	temps := len(multipartTemps(t))

	e.ready(t, "padmin", grant(testProject, RoleAdmin))
	cookie := uiLogin(t, e, "padmin", newPassword("padmin"), "")
	path := "/ui/policies/" + strconv.FormatInt(rev.ID, 10)
	if st, body, _ := uiGet(t, e, path, cookie); st != http.StatusOK || !strings.Contains(body, path+"/test") {
		t.Fatalf("policy page: %d, no tester link", st)
	}
	st, _, csrf := uiGet(t, e, path+"/test", cookie)
	if st != http.StatusOK || csrf == "" {
		t.Fatalf("tester page: %d", st)
	}

	resp, body := uploadSample(t, e, rev.ID, cookie, csrf, testProject, false, sample)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("test: %d %s", resp.StatusCode, body)
	}
	for _, want := range []string{
		"<td>PatientName</td><td>(0010,0010)</td><td>PN</td><td>Z</td><td>***</td>",
		"<td>SOPInstanceUID</td><td>(0008,0018)</td><td>UI</td><td>U</td><td>***</td>",
		"Result: anonymised", "PHI", `id="preview"`, "data:image/png;base64,",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("result page lacks %q", want)
		}
	}
	for _, v := range planted {
		if strings.Contains(body, v) || strings.Contains(body, html.EscapeString(v)) {
			t.Errorf("masked page shows planted value %q", v)
		}
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "img-src 'self' data:") ||
		!strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("result page CSP %q", csp)
	}
	ent := e.lastAudit(t, audit.Filter{Action: audit.ActionPolicyEdit})
	if ent.Actor != "padmin" || ent.Reason != "tested on a sample" || ent.Project != testProject {
		t.Errorf("audit entry %+v", ent.Event)
	}
	if j, _ := json.Marshal(ent); bytes.Contains(j, []byte(patientName)) {
		t.Error("audit entry holds a value")
	}

	resp, body = uploadSample(t, e, rev.ID, cookie, csrf, testProject, true, sample)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, html.EscapeString(patientName)) {
		t.Errorf("show originals: %d, patient name not shown", resp.StatusCode)
	}

	// Nothing of the sample under the data dir or in temporary files.
	filepath.WalkDir(e.cfg.DataDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range planted {
			if bytes.Contains(b, []byte(v)) {
				t.Errorf("%s holds planted value %q", p, v)
			}
		}
		return nil
	})
	if n := len(multipartTemps(t)); n != temps {
		t.Errorf("multipart temporary files: %d, was %d", n, temps)
	}
	if strings.Contains(e.logs.String(), patientName) {
		t.Error("logs hold the patient name")
	}

	// Wrong CSRF, another project, non-admins: 403.
	if resp, _ := uploadSample(t, e, rev.ID, cookie, "wrong", testProject, false, sample); resp.StatusCode != http.StatusForbidden {
		t.Errorf("wrong csrf: %d", resp.StatusCode)
	}
	if resp, _ := uploadSample(t, e, rev.ID, cookie, csrf, "other", false, sample); resp.StatusCode != http.StatusForbidden {
		t.Errorf("admin of another project: %d", resp.StatusCode)
	}
	for _, r := range []Role{RoleSiteOperator, RoleAuditor, RoleCorelabReader} {
		login := "u" + strings.ReplaceAll(string(r), "_", "")
		e.ready(t, login, grant(testProject, r))
		c := uiLogin(t, e, login, newPassword(login), "")
		if st, _, _ := uiGet(t, e, path+"/test", c); st != http.StatusForbidden {
			t.Errorf("%s: tester page %d", r, st)
		}
		_, _, tok := uiGet(t, e, "/ui/", c)
		resp, body := uploadSample(t, e, rev.ID, c, tok, testProject, true, sample)
		if resp.StatusCode != http.StatusForbidden || strings.Contains(body, html.EscapeString(patientName)) {
			t.Errorf("%s: upload %d", r, resp.StatusCode)
		}
	}
}
