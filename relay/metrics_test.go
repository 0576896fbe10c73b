package relay

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// apiGet GETs path from the relay API with token ("" for none).
func (e *env) apiGet(t *testing.T, path, token string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.apiURL+path, nil)
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
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// metricSamples parses Prometheus text into "name{labels}" -> value.
func metricSamples(t *testing.T, text string) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for line := range strings.Lines(text) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

func TestMetricsAndImagingStudy(t *testing.T) {
	e := startRelay(t, envOptions{})
	ctx := context.Background()
	a := e.enrol(t, testProject, testSite, "")
	const s1, s2 = "1.2.826.0.1.3680043.10.1", "1.2.826.0.1.3680043.10.2"
	files := []*testFile{
		e.seal(t, a, fileSpec{study: s1, series: s1 + ".1", sop: s1 + ".1.1"}),
		e.seal(t, a, fileSpec{study: s1, series: s1 + ".1", sop: s1 + ".1.2"}),
		e.seal(t, a, fileSpec{study: s1, series: s1 + ".2", sop: s1 + ".2.1"}),
		e.seal(t, a, fileSpec{study: s2, series: s2 + ".1", sop: s2 + ".1.1"}),
	}
	var bytes int64
	for _, f := range files {
		if _, err := a.upload(ctx, f); err != nil {
			t.Fatalf("upload: %v", err)
		}
		bytes += f.offer.Size
	}
	// A re-send is not a new commit; a refusal is counted by code.
	if _, err := a.upload(ctx, files[0]); err != nil {
		t.Fatal(err)
	}
	bad := e.seal(t, a, fileSpec{study: s2, sop: s2 + ".1.9", policyHash: strings.Repeat("cd", 32)})
	_, err := a.upload(ctx, bad)
	wantRejected(t, err, CodePolicyNotApproved)

	code, body := e.apiGet(t, "/metrics", "")
	if code != http.StatusOK {
		t.Fatalf("/metrics = %d", code)
	}
	m := metricSamples(t, string(body))
	want := map[string]float64{
		`dicomgate_relay_files_committed_total{project="trial-1"}`:         4,
		`dicomgate_relay_files_committed_total{project="other"}`:           0,
		`dicomgate_relay_files_rejected_total{code="policy_not_approved"}`: 1,
		`dicomgate_relay_bytes_committed_total`:                            float64(bytes),
		`dicomgate_relay_commit_seconds_count`:                             4,
		`dicomgate_relay_connected_agents`:                                 1,
		`dicomgate_relay_uploads_in_flight`:                                0,
		`dicomgate_relay_imagingstudy_write_failures_total`:                0,
	}
	for k, v := range want {
		if got, ok := m[k]; !ok || got != v {
			t.Errorf("%s = %v (present %v); want %v", k, got, ok, v)
		}
	}
	// No UID, file id, agent id or path in any metric line.
	never := []string{"1.2.826", e.cfg.DataDir, a.id, "/tmp"}
	for _, f := range append(files, bad) {
		never = append(never, f.offer.ID)
	}
	for line := range strings.Lines(string(body)) {
		for _, s := range never {
			if strings.Contains(line, s) {
				t.Errorf("metric line %q holds %q", strings.TrimSpace(line), s)
			}
		}
	}

	// The ImagingStudy beside the study, in the object store.
	e.srv.mon.fhir.wait()
	res, err := e.srv.resources()
	if err != nil {
		t.Fatal(err)
	}
	rc, err := res.objects.Get(ctx, "projects/"+testProject+"/studies/"+s1+"/imagingstudy.json", 0)
	if err != nil {
		t.Fatalf("imagingstudy.json: %v", err)
	}
	stored, _ := io.ReadAll(rc)
	rc.Close()
	checkImagingStudy(t, stored, s1, map[string][]string{s1 + ".1": {s1 + ".1.1", s1 + ".1.2"}, s1 + ".2": {s1 + ".2.1"}})

	// The same over the API, authenticated like the other routes.
	code, served := e.apiGet(t, "/api/v1/projects/"+testProject+"/studies/"+s1+"/imagingstudy", e.token)
	if code != http.StatusOK || string(served) != string(stored) {
		t.Errorf("API imagingstudy = %d, equal to stored: %v", code, string(served) == string(stored))
	}
	for _, c := range []struct {
		token, study string
		want         int
	}{{"", s1, 401}, {e.other, s1, 403}, {e.token, s2 + ".7", 404}, {e.token, "x", 404}} {
		if code, _ := e.apiGet(t, "/api/v1/projects/"+testProject+"/studies/"+c.study+"/imagingstudy", c.token); code != c.want {
			t.Errorf("imagingstudy with token %q study %s = %d; want %d", c.token, c.study, code, c.want)
		}
	}

	// `dicomgate fetch` writes it into each study folder.
	out := t.TempDir()
	if err := WriteImagingStudies(ctx, e.client(e.token), testProject, "", out); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(out, s1, "imagingstudy.json"))
	if err != nil || string(got) != string(stored) {
		t.Errorf("fetched imagingstudy.json: %v", err)
	}
	got, err = os.ReadFile(filepath.Join(out, s2, "imagingstudy.json"))
	if err != nil {
		t.Fatal(err)
	}
	checkImagingStudy(t, got, s2, map[string][]string{s2 + ".1": {s2 + ".1.1"}})
}

// checkImagingStudy validates the shape of a FHIR R4 ImagingStudy and its
// counts against series -> instance UIDs.
func checkImagingStudy(t *testing.T, b []byte, study string, series map[string][]string) {
	t.Helper()
	var raw map[string]any
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatalf("imagingstudy: %v", err)
	}
	for _, k := range []string{"resourceType", "identifier", "status", "modality", "numberOfSeries", "numberOfInstances", "series"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("imagingstudy lacks %s", k)
		}
	}
	if _, ok := raw["subject"]; ok {
		t.Errorf("imagingstudy has a subject; the relay knows none")
	}
	var is ImagingStudy
	if err := json.Unmarshal(b, &is); err != nil {
		t.Fatal(err)
	}
	if is.ResourceType != "ImagingStudy" || is.Status != "available" || len(is.Identifier) != 1 ||
		is.Identifier[0].System != "urn:dicom:uid" || is.Identifier[0].Value != "urn:oid:"+study {
		t.Errorf("imagingstudy header = %s", b)
	}
	if len(is.Modality) != 1 || is.Modality[0].Code != "CT" || is.Modality[0].System != fhirModalitySystem {
		t.Errorf("modality = %+v", is.Modality)
	}
	total := 0
	for _, uids := range series {
		total += len(uids)
	}
	if is.NumberOfSeries != len(series) || len(is.Series) != len(series) || is.NumberOfInstances != total {
		t.Errorf("counts: %d series (%d listed), %d instances; want %d, %d", is.NumberOfSeries, len(is.Series),
			is.NumberOfInstances, len(series), total)
	}
	for _, se := range is.Series {
		want := series[se.UID]
		if want == nil || se.NumberOfInstances != len(want) || len(se.Instance) != len(want) || se.Modality.Code != "CT" {
			t.Errorf("series %s: %+v", se.UID, se)
			continue
		}
		for i, in := range se.Instance {
			if in.UID != want[i] || in.SOPClass.Code != "urn:oid:1.2.840.10008.5.1.4.1.1.2" || in.SOPClass.System != "urn:ietf:rfc:3986" {
				t.Errorf("series %s instance %d = %+v", se.UID, i, in)
			}
		}
	}
}

func TestReadyz(t *testing.T) {
	e := startRelay(t, envOptions{})
	for _, p := range []string{"/healthz", "/readyz"} {
		if code, body := e.apiGet(t, p, ""); code != http.StatusOK {
			t.Errorf("%s = %d %s", p, code, body)
		}
	}
	res, err := e.srv.resources()
	if err != nil {
		t.Fatal(err)
	}
	res.db.Close()
	if code, _ := e.apiGet(t, "/readyz", ""); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz with the database closed = %d; want 503", code)
	}
}
