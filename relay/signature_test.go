package relay

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"dicomgate/audit"
	"dicomgate/store"
	"dicomgate/transport"
)

// approve approves revision rev for project as the session tok.
func (e *acctEnv) approve(t *testing.T, tok string, rev int64, password string) (int, *store.Signature) {
	t.Helper()
	st, b := e.call(t, "POST", "/api/v1/projects/"+testProject+"/policies/"+itoa64(rev)+"/approve", tok,
		SignRequest{Password: password, Meaning: "approval"})
	var sig store.Signature
	if st == http.StatusOK {
		if err := json.Unmarshal(b, &sig); err != nil {
			t.Fatal(err)
		}
	}
	return st, &sig
}

func itoa64(n int64) string { b, _ := json.Marshal(n); return string(b) }

// TestUploadNeedsApprovedPolicy: a file anonymised with a policy that is
// not approved is refused (and audited); once an admin approves it with a
// signature, the same upload is accepted.
func TestUploadNeedsApprovedPolicy(t *testing.T) {
	ctx := context.Background()
	e := startAccountRelay(t, testAccounts())
	admin := e.ready(t, "pam", grant(testProject, RoleAdmin))
	gadmin := e.ready(t, "root", grant(AllProjects, RoleAdmin))
	st, b := e.call(t, "POST", "/api/v1/policies", gadmin, map[string]string{"yaml": "id: trial\nversion: 2\nprofile: basic\n"})
	if st != http.StatusCreated {
		t.Fatalf("save policy: %d %s", st, b)
	}
	var rev store.PolicyRevision
	json.Unmarshal(b, &rev)
	a := e.enrol(t, testProject, testSite, transport.ModeTCP)
	f := e.seal(t, a, fileSpec{policyHash: rev.Hash})
	_, err := a.upload(ctx, f)
	wantRejected(t, err, CodePolicyNotApproved)
	if ev := e.lastAudit(t, audit.Filter{Action: audit.ActionFileRejected}); ev.Reason != CodePolicyNotApproved {
		t.Fatalf("rejection event %+v", ev)
	}
	if st, _ := e.approve(t, admin, rev.ID, "wrong-password"); st != http.StatusUnauthorized {
		t.Fatalf("approve with a wrong password: %d", st)
	}
	st, sig := e.approve(t, admin, rev.ID, newPassword("pam"))
	if st != http.StatusOK || sig.PrintedName != "Test pam" || sig.Meaning != "approval" || sig.SignedAt.Location() != time.UTC {
		t.Fatalf("approve: %d %+v", st, sig)
	}
	if _, err := a.upload(ctx, f); err != nil {
		t.Fatalf("upload after approval: %v", err)
	}
	ev := e.lastAudit(t, audit.Filter{Action: audit.ActionPolicyApprove})
	if ev.Actor != "pam" || ev.Details["printed_name"] != "Test pam" || ev.Details["record_sha256"] != sig.RecordSHA256 {
		t.Fatalf("approval event %+v", ev)
	}
	// The configured bootstrap hash still works alongside the registry.
	g := e.seal(t, a, fileSpec{sop: "1.2.826.0.1.3680043.10.1.1.7"})
	if _, err := a.upload(ctx, g); err != nil {
		t.Fatalf("upload with the configured hash: %v", err)
	}
}

// TestSignatureBoundToRecord: a signature verifies only against the
// record whose hash it carries; moved to another record (in code or in
// the database) or edited, it fails, and the moved approval is ignored.
func TestSignatureBoundToRecord(t *testing.T) {
	ctx := context.Background()
	e := startAccountRelay(t, testAccounts())
	admin := e.ready(t, "quin", grant(AllProjects, RoleAdmin))
	r1, err := e.srv.SavePolicy(ctx, "quin", "id: trial\nversion: 1\nprofile: basic\n", "")
	if err != nil {
		t.Fatal(err)
	}
	r2, err := e.srv.SavePolicy(ctx, "quin", "id: trial\nversion: 2\nprofile: basic\noptions: [retain-uids]\n", "")
	if err != nil {
		t.Fatal(err)
	}
	st, sig := e.approve(t, admin, r1.ID, newPassword("quin"))
	if st != http.StatusOK {
		t.Fatalf("approve: %d", st)
	}
	if err := e.srv.verifySignature(sig, approvalRecord(testProject, r1)); err != nil {
		t.Fatalf("signature does not verify on its record: %v", err)
	}
	if err := e.srv.verifySignature(sig, approvalRecord(testProject, r2)); !errors.Is(err, ErrSignatureInvalid) {
		t.Fatalf("signature verifies on another record: %v", err)
	}
	if err := e.srv.verifySignature(sig, approvalRecord("other", r1)); !errors.Is(err, ErrSignatureInvalid) {
		t.Fatalf("signature verifies for another project: %v", err)
	}
	edited := *sig
	edited.PrintedName = "Someone Else"
	if err := e.srv.verifySignature(&edited, approvalRecord(testProject, r1)); !errors.Is(err, ErrSignatureInvalid) {
		t.Fatalf("edited signature verifies: %v", err)
	}
	// Move the signature in the database: approve r2 with r1's signature.
	res, _ := e.srv.resources()
	if err := res.accounts.PutApproval(ctx, store.PolicyApproval{Project: testProject, PolicyRevision: r2.ID,
		PolicyHash: r2.Hash, SignatureID: sig.ID}); err != nil {
		t.Fatal(err)
	}
	hashes, err := e.srv.approvedHashes(ctx, testProject)
	if err != nil {
		t.Fatal(err)
	}
	if len(hashes) != 1 || hashes[0] != r1.Hash {
		t.Fatalf("approved hashes %v, want only r1", hashes)
	}
	a := e.enrol(t, testProject, testSite, transport.ModeTCP)
	_, err = a.upload(ctx, e.seal(t, a, fileSpec{policyHash: r2.Hash}))
	wantRejected(t, err, CodePolicyNotApproved)
	// An approved version never changes: same version, other text.
	if _, err := e.srv.SavePolicy(ctx, "quin", "id: trial\nversion: 1\nprofile: basic\noptions: [retain-uids]\n", ""); !errors.Is(err, ErrPolicyVersionApproved) {
		t.Fatalf("edit of an approved version: %v", err)
	}
}

func TestPolicyValidationProblems(t *testing.T) {
	e := startAccountRelay(t, testAccounts())
	tok := e.ready(t, "ray", grant(AllProjects, RoleAdmin))
	st, b := e.call(t, "POST", "/api/v1/policies", tok, map[string]string{"yaml": "id: x\nversion: 1\nprofile: basic\nbogus: 3\n"})
	if st != http.StatusUnprocessableEntity || !strings.Contains(string(b), `"line":4`) {
		t.Fatalf("invalid policy: %d %s", st, b)
	}
}

// TestReleaseAndExportSigned: study release and audit export need a
// signature; both are audited with its manifestation.
func TestReleaseAndExportSigned(t *testing.T) {
	ctx := context.Background()
	e := startAccountRelay(t, testAccounts())
	admin := e.ready(t, "sue", grant(AllProjects, RoleAdmin))
	a := e.enrol(t, testProject, testSite, transport.ModeTCP)
	f := e.seal(t, a, fileSpec{})
	if _, err := a.upload(ctx, f); err != nil {
		t.Fatal(err)
	}
	path := "/api/v1/projects/" + testProject + "/studies/" + f.manifest.StudyInstanceUID + "/release"
	if st, _ := e.call(t, "POST", path, admin, SignRequest{Password: newPassword("sue"), Meaning: "nonsense"}); st != http.StatusBadRequest {
		t.Fatalf("release with a bad meaning: %d", st)
	}
	if st, b := e.call(t, "POST", path, admin, SignRequest{Password: newPassword("sue"), Meaning: "release"}); st != http.StatusOK {
		t.Fatalf("release: %d %s", st, b)
	}
	if st, _ := e.call(t, "POST", path, admin, SignRequest{Password: newPassword("sue"), Meaning: "release"}); st != http.StatusConflict {
		t.Fatalf("second release: %d", st)
	}
	if ev := e.lastAudit(t, audit.Filter{Action: audit.ActionStudyRelease}); ev.Study != f.manifest.StudyInstanceUID || ev.Reason != "release" {
		t.Fatalf("release event %+v", ev)
	}
	st, b := e.call(t, "POST", "/api/v1/audit/export", admin, exportRequest{Format: "csv",
		SignRequest: SignRequest{Password: newPassword("sue"), Meaning: "review"}})
	if st != http.StatusOK || !strings.Contains(string(b), "study.release") {
		t.Fatalf("export: %d %.200s", st, b)
	}
	if ev := e.lastAudit(t, audit.Filter{Action: audit.ActionExport}); ev.Actor != "sue" || !strings.Contains(ev.Reason, "e-signature") {
		t.Fatalf("export event %+v", ev)
	}
	if st, _ := e.call(t, "POST", "/api/v1/audit/export", admin, exportRequest{Format: "csv",
		SignRequest: SignRequest{Password: "nope", Meaning: "review"}}); st != http.StatusUnauthorized {
		t.Fatalf("export without a valid signature: %d", st)
	}
}
