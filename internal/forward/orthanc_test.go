package forward

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"dicomgate/internal/dicomtest"
)

// orthanc is a real Orthanc started by a test on 127.0.0.1.
type orthanc struct {
	http  string // REST API base URL
	dicom string // DICOM host:port
}

// orthancPlugin finds the DICOMweb plugin of the orthanc-dicomweb package.
func orthancPlugin() string {
	for _, p := range []string{"/usr/share/orthanc/plugins/libOrthancDicomWeb.so"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	m, _ := filepath.Glob("/usr/lib/orthanc/libOrthancDicomWeb.so*")
	if len(m) > 0 {
		return m[0]
	}
	return ""
}

// startOrthanc runs Orthanc with DICOMweb on free ports of 127.0.0.1
// until the test ends. It skips the test when Orthanc is not installed,
// and fails it when CI=true.
func startOrthanc(t *testing.T) *orthanc {
	t.Helper()
	bin, err := exec.LookPath("Orthanc")
	plugin := orthancPlugin()
	if err != nil || plugin == "" {
		msg := "Orthanc with its DICOMweb plugin not installed (apt-get install -y orthanc orthanc-dicomweb)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	dir := t.TempDir()
	httpPort, dicomPort := freePort(t), freePort(t)
	cfg := map[string]any{
		"Name": "dicomgate-test", "DicomAet": "ORTHANC",
		"HttpPort": httpPort, "DicomPort": dicomPort,
		"RemoteAccessAllowed": false, "AuthenticationEnabled": false,
		"StorageDirectory": filepath.Join(dir, "storage"), "IndexDirectory": filepath.Join(dir, "index"),
		"Plugins": []string{plugin}, "DicomWeb": map[string]any{"Enable": true, "Root": "/dicom-web/"},
		"DicomAlwaysAllowStore": true, "DicomCheckCalledAet": true,
	}
	data, _ := json.Marshal(cfg)
	conf := filepath.Join(dir, "orthanc.json")
	if err := os.WriteFile(conf, data, 0o600); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "orthanc.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, conf)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("orthanc log:\n%s", b)
		}
	})
	o := &orthanc{http: fmt.Sprintf("http://127.0.0.1:%d", httpPort), dicom: fmt.Sprintf("127.0.0.1:%d", dicomPort)}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var sys struct{ DicomAet string }
		if err := o.get("/system", &sys); err == nil && sys.DicomAet == "ORTHANC" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("orthanc REST API not up after 30s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	return o
}

// freePort returns a free TCP port of 127.0.0.1.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// get decodes the JSON answer of GET path.
func (o *orthanc) get(path string, v any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, o.http+path, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// instances returns the SOP instance UIDs Orthanc stores, sorted, and its
// number of studies.
func (o *orthanc) instances(t *testing.T) (uids []string, studies int) {
	t.Helper()
	var insts []struct {
		MainDicomTags struct{ SOPInstanceUID string }
	}
	if err := o.get("/instances?expand", &insts); err != nil {
		t.Fatal(err)
	}
	for _, in := range insts {
		uids = append(uids, in.MainDicomTags.SOPInstanceUID)
	}
	var st []string
	if err := o.get("/studies", &st); err != nil {
		t.Fatal(err)
	}
	slices.Sort(uids)
	return uids, len(st)
}

// TestOrthanc forwards two corpora (every object type and transfer
// syntax) to a real Orthanc, one by C-STORE and one by STOW-RS, and checks
// through its REST API that every instance arrived.
func TestOrthanc(t *testing.T) {
	o := startOrthanc(t)
	for _, tc := range []struct {
		name string
		seed uint64
		fwd  Forwarder
	}{
		{"c-store", 31, &CStore{Addr: o.dicom, CalledAE: "ORTHANC", CallingAE: "DGTEST"}},
		{"stow-rs", 32, &STOW{URL: o.http + "/dicom-web", Batch: 7}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, studiesBefore := o.instances(t)
			files, uids := writeCorpus(t, tc.seed, dicomtest.CorpusOptions{Patients: 2, Slices: 6})
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			res, err := tc.fwd.Forward(ctx, files)
			if err != nil || res.Sent != len(files) || res.Failed != 0 {
				t.Fatalf("Forward = %+v, %v", res, err)
			}
			got, studies := o.instances(t)
			want := slices.Concat(before, uids)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("orthanc holds %d instances, want %d:\n got %v\nwant %v", len(got), len(want), got, want)
			}
			if studies != studiesBefore+2 {
				t.Errorf("orthanc holds %d studies, want %d", studies, studiesBefore+2)
			}
			t.Logf("%s: %d files, %.1f kB, all in orthanc", tc.name, res.Sent, float64(res.Bytes)/1e3)
		})
	}
}
