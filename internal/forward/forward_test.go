package forward

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"dicomgate/dimse"
	"dicomgate/internal/dicomtest"
)

// writeCorpus writes a generated corpus below a new folder and returns the
// files and their SOP instance UIDs, sorted.
func writeCorpus(t *testing.T, seed uint64, opts dicomtest.CorpusOptions) (files, uids []string) {
	t.Helper()
	dir := t.TempDir()
	fs, _, err := dicomtest.New(seed).Corpus(opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fs {
		p := filepath.Join(dir, filepath.FromSlash(f.Name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, f.Data, 0o644); err != nil {
			t.Fatal(err)
		}
		m, err := dimse.ReadFileMeta(bufio.NewReader(bytes.NewReader(f.Data)))
		if err != nil {
			t.Fatal(err)
		}
		uids = append(uids, m.MediaStorageSOPInstanceUID)
	}
	files, err = Files(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(fs) {
		t.Fatalf("Files found %d of %d", len(files), len(fs))
	}
	slices.Sort(uids)
	return files, uids
}

func TestParseAETarget(t *testing.T) {
	for _, tc := range []struct {
		in, ae, addr string
		ok           bool
	}{
		{"ORTHANC@127.0.0.1:4242", "ORTHANC", "127.0.0.1:4242", true},
		{"PACS@pacs.example.org:104", "PACS", "pacs.example.org:104", true},
		{"PACS@[::1]:104", "PACS", "[::1]:104", true},
		{"127.0.0.1:4242", "", "", false},
		{"@127.0.0.1:4242", "", "", false},
		{"ABCDEFGHIJKLMNOPQ@h:1", "", "", false},
		{"PACS@host", "", "", false},
		{`A\B@h:1`, "", "", false},
	} {
		ae, addr, err := ParseAETarget(tc.in)
		if (err == nil) != tc.ok || ae != tc.ae || addr != tc.addr {
			t.Errorf("ParseAETarget(%q) = %q, %q, %v", tc.in, ae, addr, err)
		}
	}
}

func TestBatchByPairs(t *testing.T) {
	f := func(class, ts string) fileInfo {
		return fileInfo{meta: dimse.FileMeta{MediaStorageSOPClassUID: class, TransferSyntaxUID: ts}}
	}
	files := []fileInfo{f("a", "1"), f("a", "1"), f("b", "1"), f("a", "2"), f("a", "1"), f("c", "1")}
	for _, tc := range []struct {
		n    int
		want []int
	}{{1, []int{2, 1, 1, 1, 1}}, {2, []int{3, 2, 1}}, {3, []int{5, 1}}, {126, []int{6}}} {
		var got []int
		for _, b := range batchByPairs(files, tc.n) {
			got = append(got, len(b))
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("n=%d: batches %v, want %v", tc.n, got, tc.want)
		}
	}
}

// recorder is a dimse handler recording what it stores; it refuses the
// instance named in refuse.
type recorder struct {
	refuse string
	mu     sync.Mutex
	got    map[string]string // sop instance uid -> transfer syntax
}

func (r *recorder) Store(ctx context.Context, req dimse.StoreRequest, body io.Reader) error {
	if _, err := io.Copy(io.Discard, body); err != nil {
		return err
	}
	if req.SOPInstanceUID == r.refuse {
		return &dimse.StatusError{Status: 0xA900, Comment: "refused by test"}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got[req.SOPInstanceUID] = req.TransferSyntax
	return nil
}

// TestCStore forwards a corpus in every transfer syntax to a dimse
// server: each file arrives in its own syntax; a refused file fails alone.
func TestCStore(t *testing.T) {
	files, uids := writeCorpus(t, 3, dicomtest.CorpusOptions{Patients: 2, Slices: 5})
	rec := &recorder{refuse: uids[0], got: map[string]string{}}
	srv := &dimse.Server{AETitle: "PACS", Handler: rec}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.ServeListener(context.Background(), ln)
	defer srv.Close()

	fwd := &CStore{Addr: ln.Addr().String(), CalledAE: "PACS"}
	res, err := fwd.Forward(t.Context(), files)
	var fe *FileError
	if !errors.As(err, &fe) || !errors.Is(err, ErrNotAccepted) {
		t.Errorf("Forward error = %v; want one *FileError wrapping ErrNotAccepted", err)
	}
	if res.Files != len(files) || res.Sent != len(files)-1 || res.Failed != 1 {
		t.Errorf("Result = %+v; want %d sent, 1 failed", res, len(files)-1)
	}
	for _, p := range files {
		data, _ := os.ReadFile(p)
		m, _ := dimse.ReadFileMeta(bufio.NewReader(bytes.NewReader(data)))
		if m.MediaStorageSOPInstanceUID == rec.refuse {
			continue
		}
		if ts, ok := rec.got[m.MediaStorageSOPInstanceUID]; !ok || ts != m.TransferSyntaxUID {
			t.Errorf("%s: received %v in %q; want %s", filepath.Base(p), ok, ts, m.TransferSyntaxUID)
		}
	}

	// Nobody listening: every file fails, none is lost silently.
	srv.Close()
	res, err = (&CStore{Addr: ln.Addr().String(), CalledAE: "PACS"}).Forward(t.Context(), files[:3])
	if err == nil || res.Failed != 3 || res.Sent != 0 {
		t.Errorf("Forward to a closed port = %+v, %v", res, err)
	}
}

// TestSTOW posts a corpus to a fake DICOMweb server that checks the
// request and fails one instance in its answer.
func TestSTOW(t *testing.T) {
	files, uids := writeCorpus(t, 4, dicomtest.CorpusOptions{Slices: 3})
	var (
		mu   sync.Mutex
		got  []string
		reqs int
	)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if r.Method != http.MethodPost || r.URL.Path != "/dicom-web/studies" || err != nil ||
			mt != "multipart/related" || params["type"] != "application/dicom" || r.Header.Get("Authorization") != "Bearer x" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		mr := multipart.NewReader(r.Body, params["boundary"])
		var failed []any
		for {
			p, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil || p.Header.Get("Content-Type") != "application/dicom" {
				http.Error(w, "bad part", http.StatusBadRequest)
				return
			}
			m, err := dimse.ReadFileMeta(bufio.NewReader(p))
			if err != nil {
				http.Error(w, "not dicom", http.StatusBadRequest)
				return
			}
			io.Copy(io.Discard, p)
			if m.MediaStorageSOPInstanceUID == uids[1] {
				failed = append(failed, map[string]any{
					"00081155": map[string]any{"vr": "UI", "Value": []string{m.MediaStorageSOPInstanceUID}},
					"00081197": map[string]any{"vr": "US", "Value": []int{0xA700}},
				})
				continue
			}
			mu.Lock()
			got = append(got, m.MediaStorageSOPInstanceUID)
			mu.Unlock()
		}
		mu.Lock()
		reqs++
		mu.Unlock()
		w.Header().Set("Content-Type", "application/dicom+json")
		if len(failed) > 0 {
			w.WriteHeader(http.StatusAccepted)
		}
		json.NewEncoder(w).Encode(map[string]any{"00081198": map[string]any{"vr": "SQ", "Value": failed}})
	}))
	defer ts.Close()

	fwd := &STOW{URL: ts.URL + "/dicom-web/", Batch: 4, Header: http.Header{"Authorization": {"Bearer x"}}}
	res, err := fwd.Forward(t.Context(), files)
	if !errors.Is(err, ErrNotAccepted) || res.Sent != len(files)-1 || res.Failed != 1 {
		t.Fatalf("Forward = %+v, %v; want 1 failed", res, err)
	}
	if want := (len(files) + 3) / 4; reqs != want {
		t.Errorf("%d requests; want %d", reqs, want)
	}
	slices.Sort(got)
	want := slices.DeleteFunc(slices.Clone(uids), func(u string) bool { return u == uids[1] })
	if !slices.Equal(got, want) {
		t.Errorf("server got %v; want %v", got, want)
	}

	// A server error fails the request's files.
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusInternalServerError)
	}))
	defer bad.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	res, err = (&STOW{URL: bad.URL}).Forward(ctx, files[:2])
	if err == nil || res.Failed != 2 {
		t.Errorf("Forward to a failing server = %+v, %v", res, err)
	}
}
