package agent

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"dicomgate/anonymize"
	"dicomgate/internal/dicomtest"
	"dicomgate/seal"
)

func newTestProcessor(t *testing.T, s *testSite) (*SealProcessor, ed25519.PublicKey) {
	t.Helper()
	key, err := seal.GenerateSigningKey()
	must(t, err)
	recips, err := loadRecipients(s.cfg.Recipients, s.pol.Recipients())
	must(t, err)
	p, err := NewProcessor(ProcessorConfig{Project: s.cfg.Project, Site: s.cfg.Site, AgentID: "agent-test",
		Policy: s.pol, Secret: s.secret, Recipients: recips, SigningKey: key})
	must(t, err)
	return p, key.Public().(ed25519.PublicKey)
}

func TestProcessorSealsExactlyTheAnonymisedFile(t *testing.T) {
	s := newTestSite(t, "127.0.0.1:1")
	proc, pub := newTestProcessor(t, s)
	dir, key := corpus(t, 7, dicomtest.CorpusOptions{Patients: 2, Slices: 2})
	sealedOK := 0
	for _, fi := range key.Files {
		t.Run(fi.Path, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(fi.Path)))
			must(t, err)
			want, rep, refErr := s.reference(t, data)
			var spool bytes.Buffer
			res, err := proc.Process(t.Context(), &Item{ID: 1}, bytes.NewReader(data), &spool)
			if refErr != nil {
				var perm *PermanentError
				if !errors.As(err, &perm) || !strings.Contains(err.Error(), refErr.Error()) {
					t.Fatalf("Process = %v; want a permanent error carrying %q", err, refErr)
				}
				return
			}
			must(t, err)
			sealedOK++
			if got := s.open(t, spool.Bytes()); !bytes.Equal(got, want) {
				t.Fatalf("decrypted %d bytes differ from the %d anonymised bytes", len(got), len(want))
			}
			m, err := seal.OpenManifest(res.Manifest, seal.TrustKeys(pub))
			if err != nil {
				t.Fatalf("OpenManifest: %v", err)
			}
			plain := sha256.Sum256(want)
			ct := sha256.Sum256(spool.Bytes())
			switch {
			case m.FileID != res.FileID || res.FileID != FileID("trial-x", hex.EncodeToString(plain[:])):
				t.Errorf("file id %q / %q", m.FileID, res.FileID)
			case m.Project != "trial-x" || m.Site != "site-1" || m.AgentID != "agent-test":
				t.Errorf("manifest project/site/agent = %q %q %q", m.Project, m.Site, m.AgentID)
			case m.PolicyID != "basic" || m.PolicyVersion != "1" || m.PolicyHash != s.pol.Hash():
				t.Errorf("manifest policy = %q %q %q", m.PolicyID, m.PolicyVersion, m.PolicyHash)
			case m.StudyInstanceUID != rep.StudyInstanceUID || m.SeriesInstanceUID != rep.SeriesInstanceUID ||
				m.SOPInstanceUID != rep.SOPInstanceUID || !strings.HasPrefix(m.SOPInstanceUID, "2.25."):
				t.Errorf("manifest UIDs %q %q %q", m.StudyInstanceUID, m.SeriesInstanceUID, m.SOPInstanceUID)
			case m.SOPClassUID != fi.SOPClassUID || m.TransferSyntaxUID != rep.TransferSyntax || m.Modality != rep.Modality:
				t.Errorf("manifest class/syntax/modality %q %q %q", m.SOPClassUID, m.TransferSyntaxUID, m.Modality)
			case m.PlaintextSize != int64(len(want)) || m.PlaintextSHA256 != hex.EncodeToString(plain[:]):
				t.Errorf("manifest plaintext size/hash wrong")
			case m.CiphertextSize != int64(spool.Len()) || m.CiphertextSHA256 != hex.EncodeToString(ct[:]) ||
				res.Size != int64(spool.Len()) || !bytes.Equal(res.SHA256, ct[:]):
				t.Errorf("ciphertext size/hash wrong")
			case res.StudyUID != rep.StudyInstanceUID:
				t.Errorf("result study %q", res.StudyUID)
			}
			var r manifestReport
			if err := json.Unmarshal(m.Report, &r); err != nil || len(r.Actions) == 0 {
				t.Errorf("manifest report %s: %v", m.Report, err)
			}
			// Pseudonymous identifiers only: no original UID, no planted value.
			for _, uid := range []string{fi.StudyInstanceUID, fi.SeriesInstanceUID, fi.SOPInstanceUID} {
				if bytes.Contains(res.Manifest, []byte(uid)) || bytes.Contains(m.Report, []byte(uid)) {
					t.Errorf("manifest carries an original UID")
				}
			}
			if leaks := key.Search(append(append([]byte(nil), res.Manifest...), m.Report...), searchable); len(leaks) > 0 {
				t.Errorf("manifest carries %d planted values, e.g. %s", len(leaks), leaks[0].Path)
			}
			if leaks := key.Search(spool.Bytes(), searchable); len(leaks) > 0 {
				t.Errorf("spool carries %d planted values, e.g. %s", len(leaks), leaks[0].Path)
			}
		})
	}
	if sealedOK < len(key.Files)/2 {
		t.Errorf("only %d of %d files sealed", sealedOK, len(key.Files))
	}
}

func TestProcessorFileIDStable(t *testing.T) {
	s := newTestSite(t, "127.0.0.1:1")
	proc, _ := newTestProcessor(t, s)
	data, err := dicomtest.New(3).CTSlice(dicomtest.SliceOptions{})
	must(t, err)
	var a, b bytes.Buffer
	ra, err := proc.Process(t.Context(), &Item{ID: 1}, bytes.NewReader(data), &a)
	must(t, err)
	rb, err := proc.Process(t.Context(), &Item{ID: 2}, bytes.NewReader(data), &b)
	must(t, err)
	if ra.FileID != rb.FileID || len(ra.FileID) != 32 {
		t.Errorf("file ids %q and %q; want the same 32 hex digits", ra.FileID, rb.FileID)
	}
	if bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Errorf("two sealings are identical: data keys are not fresh")
	}
	// Another project: another id for the same content.
	other := *proc
	other.cfg.Project = "trial-y"
	var c bytes.Buffer
	rc, err := other.Process(t.Context(), &Item{ID: 3}, bytes.NewReader(data), &c)
	must(t, err)
	if rc.FileID == ra.FileID {
		t.Errorf("same file id across projects")
	}
}

func TestProcessorCancelledIsNotPermanent(t *testing.T) {
	s := newTestSite(t, "127.0.0.1:1")
	proc, _ := newTestProcessor(t, s)
	data, err := dicomtest.New(3).CTSlice(dicomtest.SliceOptions{})
	must(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = proc.Process(ctx, &Item{ID: 1}, bytes.NewReader(data), &bytes.Buffer{})
	var perm *PermanentError
	if err == nil || errors.As(err, &perm) {
		t.Errorf("Process(cancelled) = %v; want a retryable error", err)
	}
}

func TestPipelineQuarantinesMalformedWithRealProcessor(t *testing.T) {
	s := newTestSite(t, "127.0.0.1:1")
	proc, _ := newTestProcessor(t, s)
	cfg := s.cfg
	q := openTestQueue(t, cfg.QueueDB)
	defer q.Close()
	src := filepath.Join(s.dir, "PHI-NAME-Doe^John", "not-dicom.dcm")
	slice, err := dicomtest.New(5).CTSlice(dicomtest.SliceOptions{})
	must(t, err)
	writeFile(t, src, string(slice[:len(slice)/3])) // truncated: malformed
	ids, err := NewIntake(testLogger(t), q, nil).Enqueue(t.Context(), src)
	must(t, err)
	upl := &dirUploader{dir: t.TempDir()}
	p := NewPipeline(testLogger(t), cfg, q, proc, upl)
	stop := startPipeline(t, p)
	drain(t, p)
	stop()
	it, err := q.Get(t.Context(), ids[0])
	must(t, err)
	if it.State != StateQuarantined || !strings.Contains(it.Reason, anonymize.ErrMalformed.Error()) {
		t.Fatalf("item %s, reason %q; want quarantined as malformed", it.State, it.Reason)
	}
	reason, err := os.ReadFile(filepath.Join(cfg.QuarantineDir, "1.reason"))
	must(t, err)
	if !strings.Contains(string(reason), "cannot anonymise") || strings.Contains(string(reason), "PHI-NAME") {
		t.Errorf("reason file %q", reason)
	}
	if spool, _ := os.ReadDir(cfg.SpoolDir); len(spool) != 0 {
		t.Errorf("spool holds %d files after quarantine", len(spool))
	}
	if len(upl.storedCounts()) != 0 {
		t.Errorf("a quarantined file was uploaded")
	}
}
