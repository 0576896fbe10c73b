package relay

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"html/template"
	"mime/multipart"
	"net/http"

	"dicomgate/audit"
	"dicomgate/policy"
	"dicomgate/store"
)

// The policy tester: an admin uploads a sample DICOM file on a policy
// revision's page and sees what the revision does to each attribute, and
// frame 1 with the pixel rule's regions when a rule applies. This is the
// relay's one use of the engine (DESIGN.md): the sample is held in memory
// only (never written to disk, the store or the logs) and dropped when the
// page is rendered.
//
// Memory, not disk: the multipart body is capped at maxPolicySample and
// parsed by [Server.inMemorySample] before the guard reads the CSRF field,
// with a memory limit no smaller than the cap, so mime/multipart never
// spills the file to a temporary file.
//
// The PNG is sent inside the result page as a data: URL; only that
// response's Content-Security-Policy adds "img-src 'self' data:". Nothing
// is kept on the server for a second request to fetch.
//
// Pseudonyms come from a random secret made when the relay starts and held
// only in memory, so they never equal the pseudonyms of a real site.

// maxPolicySample caps the upload of the policy tester (the whole
// multipart body).
const maxPolicySample = 64 << 20

// policyTestPattern is the tester's route.
const policyTestPattern = "POST /ui/policies/{rev}/test"

// policyTestCSP is the result page's CSP: the relay's, plus data: images
// for the inline PNG.
const policyTestCSP = "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"

// maskedValue replaces an original value on the page unless the admin asks
// to see originals.
const maskedValue = "***"

// policyTester holds the tester's secret.
type policyTester struct {
	secret []byte // random per relay process, never stored
}

// newPolicyTester makes a tester with a fresh random secret.
func newPolicyTester() *policyTester {
	secret := make([]byte, 32)
	rand.Read(secret) // never fails (crypto/rand)
	return &policyTester{secret: secret}
}

// policyTestRow is a row of the result table.
type policyTestRow struct {
	Path, Tag, VR, Action, Original, New string
}

// policyTestView is the tester page's data.
type policyTestView struct {
	Rev       *store.PolicyRevision
	Projects  []string // where the caller may test (admin)
	Project   string
	Done      bool // a sample was tested
	Show      bool // originals shown
	Rows      []policyTestRow
	Outcome   string // "anonymised" or why not
	Actions   map[string]int
	PixelRule string
	PNG       template.URL
}

// inMemorySample wraps the tester's guarded handler: for an authenticated
// caller it caps the body and parses the multipart form in memory before
// the guard reads its CSRF and project fields.
func (s *Server) inMemorySample(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxPolicySample)
		if _, err := s.authenticate(r); err != nil {
			h.ServeHTTP(w, r) // the guard answers without reading the body
			return
		}
		if err := r.ParseMultipartForm(maxPolicySample); err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				s.renderError(w, r, nil, http.StatusRequestEntityTooLarge, "The sample is larger than 64 MiB.")
				return
			}
			s.renderError(w, r, nil, http.StatusBadRequest, "Send the sample as a file of the form.")
			return
		}
		defer r.MultipartForm.RemoveAll()
		h.ServeHTTP(w, r)
	})
}

// policyTestData loads the revision and the projects the caller may test
// for; store.ErrNotExist when there is no such revision.
func (u *webUI) policyTestData(r *http.Request) (*policyTestView, error) {
	p := principalFrom(r.Context())
	_, rev, err := u.pathRevision(r)
	if err != nil {
		return nil, err
	}
	v := &policyTestView{Rev: rev}
	for _, pc := range u.s.cfg.Projects {
		if allowed(p.Grants, permPolicyEdit, pc.ID) {
			v.Projects = append(v.Projects, pc.ID)
		}
	}
	return v, nil
}

func (u *webUI) policyTestPage(w http.ResponseWriter, r *http.Request) {
	p := principalFrom(r.Context())
	v, err := u.policyTestData(r)
	if errors.Is(err, store.ErrNotExist) {
		u.s.renderError(w, r, p, http.StatusNotFound, "No such policy revision.")
		return
	}
	if err != nil {
		u.s.internal(w, err)
		return
	}
	u.render(w, http.StatusOK, "policytest", newPageData(p, "Test policy "+v.Rev.PolicyID, v))
}

func (u *webUI) policyTestSubmit(w http.ResponseWriter, r *http.Request) {
	p := principalFrom(r.Context())
	v, err := u.policyTestData(r)
	if errors.Is(err, store.ErrNotExist) {
		u.s.renderError(w, r, p, http.StatusNotFound, "No such policy revision.")
		return
	}
	if err != nil {
		u.s.internal(w, err)
		return
	}
	d := newPageData(p, "Test policy "+v.Rev.PolicyID, v)
	v.Project, v.Show = r.PostFormValue("project"), r.PostFormValue("show_originals") != ""
	var fh *multipart.FileHeader
	if r.MultipartForm != nil && len(r.MultipartForm.File["sample"]) == 1 {
		fh = r.MultipartForm.File["sample"][0]
	}
	if fh == nil {
		d.Error = "Choose one DICOM file as the sample."
		u.render(w, http.StatusUnprocessableEntity, "policytest", d)
		return
	}
	sample, err := fh.Open() // in memory: see inMemorySample
	if err != nil {
		u.s.internal(w, err)
		return
	}
	defer sample.Close()
	pol, err := u.s.parseRegistryPolicy(v.Rev.YAML)
	if err != nil || pol.Hash() != v.Rev.Hash {
		u.s.internal(w, errors.New("relay: policy test: stored revision does not match its hash"))
		return
	}
	res, err := policy.Test(r.Context(), pol, u.tester.secret, sample)
	if err != nil {
		u.s.internal(w, err)
		return
	}
	v.Done, v.Outcome, v.PixelRule = true, "anonymised", res.PixelRule
	if res.Err != nil {
		v.Outcome = "would not be anonymised: " + res.Err.Error() // messages hold no values
	} else {
		v.Actions = res.Report.Actions
	}
	for _, row := range res.Rows {
		vr := policyTestRow{Path: row.Path, Tag: row.Tag, VR: row.VR, Action: row.Action, Original: row.Original, New: row.New}
		switch {
		case row.Removed:
			vr.New = "(removed)"
		case row.New == row.Original && row.New != "":
			vr.New = "(unchanged)" // a kept value is an original value
		}
		if !v.Show && vr.Original != "" {
			vr.Original = maskedValue
		}
		v.Rows = append(v.Rows, vr)
	}
	if res.PNG != nil {
		v.PNG = template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(res.PNG))
		w.Header().Set("Content-Security-Policy", policyTestCSP)
	}
	u.s.record(r.Context(), audit.Event{Actor: p.Name, Action: audit.ActionPolicyEdit, Project: projectField(v.Project),
		Object: policyObject(v.Rev), IP: clientIP(r), Reason: "tested on a sample",
		Details: map[string]any{"revision": v.Rev.ID, "policy_hash": v.Rev.Hash, "anonymised": res.Err == nil,
			"originals_shown": v.Show}})
	u.render(w, http.StatusOK, "policytest", d)
}
