package agent

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"dicomgate/dimse"
	"dicomgate/internal/dicomtest"
)

// needTool skips the test when a dcmtk tool is missing, and fails it when
// CI=true: a skipped peer test must not pass silently in CI.
func needTool(t testing.TB, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s not installed (apt-get install -y dcmtk)", n)
			}
			t.Skipf("%s not installed (apt-get install -y dcmtk)", n)
		}
	}
}

// runTool runs a dcmtk tool with TCP_NODELAY (dcmtk otherwise waits on
// delayed ACKs) and returns its combined output.
func runTool(t testing.TB, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "TCP_NODELAY=1")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// storescu sends every *.dcm below dir to addr.
func storescu(t testing.TB, addr, aet, aec, dir string, flags ...string) (string, error) {
	t.Helper()
	h, p, _ := net.SplitHostPort(addr)
	args := append([]string{"-aet", aet, "-aec", aec, "+sd", "+r", "+sp", "*.dcm", "-R"}, flags...)
	return runTool(t, "storescu", append(args, h, p, dir)...)
}

// freeAddr returns a free port on 127.0.0.1.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// startSCP serves an SCP over q until the test ends and returns it.
func startSCP(t *testing.T, q *Queue, cfg DICOMConfig, dir string) *SCP {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	s := NewSCP(testLogger(t), q, cfg, dir)
	done := make(chan error, 1)
	go func() { done <- s.Serve(context.Background(), ln) }()
	eventually(t, "scp listening", func() bool { return s.Addr() != nil })
	t.Cleanup(func() {
		s.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return s
}

// regularFiles lists the regular files of dir (not below it).
func regularFiles(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		if e.Type().IsRegular() {
			names = append(names, e.Name())
		}
	}
	return names
}

// sopInstance reads the SOP instance UID of a Part 10 file's meta.
func sopInstance(t *testing.T, data []byte) string {
	t.Helper()
	m, err := dimse.ReadFileMeta(bufio.NewReader(bytes.NewReader(data)))
	must(t, err)
	return m.MediaStorageSOPInstanceUID
}

// TestSCPThroughRelay runs the agent service with its SCP and a relay:
// storescu sends a corpus of every object type; each instance is queued,
// anonymised, sealed and committed by the relay, and the received copies
// are deleted.
func TestSCPThroughRelay(t *testing.T) {
	needTool(t, "storescu", "echoscu")
	r := newTestRelay(t)
	r.start()
	s := enrolledSite(t, r)
	s.cfg.DICOM = DICOMConfig{Listen: freeAddr(t), AllowedCallingAEs: []string{"MODALITY"}}
	s.cfg.SetDefaults()
	must(t, s.cfg.Validate())
	dir, key := corpus(t, 21, dicomtest.CorpusOptions{Patients: 2, Slices: 4,
		TransferSyntaxes: []string{dicomtest.ExplicitVRLittleEndian, dicomtest.ImplicitVRLittleEndian}})
	a := newTestAgent(t, s)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	addr := s.cfg.DICOM.Listen
	h, p, _ := net.SplitHostPort(addr)
	eventually(t, "scp answering c-echo", func() bool {
		_, err := runTool(t, "echoscu", "-aet", "MODALITY", "-aec", "DICOMGATE", h, p)
		return err == nil
	})
	// storescu cannot transcode JPEG: those go in an association of their
	// own proposing JPEG baseline.
	jpeg := splitSyntax(t, dir, key, dicomtest.JPEGBaseline8Bit)
	for _, run := range []struct {
		dir   string
		flags []string
	}{{dir, nil}, {jpeg, []string{"-xy"}}} {
		if out, err := storescu(t, addr, "MODALITY", "DICOMGATE", run.dir, run.flags...); err != nil {
			t.Fatalf("storescu %v: %v\n%s", run.flags, err, out)
		}
	}
	n := len(key.Files)
	eventually(t, "every instance committed by the relay", func() bool { c, _ := r.stats(); return c == n })
	// The relay counts a commit before its receipt reaches the agent.
	eventually(t, "every receipt recorded by the agent", func() bool { return committedNow(t, s.cfg.QueueDB) == n })
	received := receivedDir(s.cfg.SpoolDir)
	eventually(t, "received copies deleted", func() bool { return len(regularFiles(t, received)) == 0 })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}

	// The relay holds exactly the pseudonymised instances of the corpus,
	// each decrypting to an instance without the planted values.
	var want, got []string
	for _, d := range []string{dir, jpeg} {
		filepath.WalkDir(d, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				data, err := os.ReadFile(p)
				must(t, err)
				anon, _, err := s.reference(t, data)
				must(t, err)
				want = append(want, sopInstance(t, anon))
			}
			return nil
		})
	}
	r.mu.Lock()
	for id, m := range r.manifests {
		got = append(got, m.SOPInstanceUID)
		plain := s.open(t, r.object(id))
		if sopInstance(t, plain) != m.SOPInstanceUID {
			t.Errorf("object %s: meta does not name the manifest's instance", id)
		}
		if leaks := key.Search(plain, searchable); len(leaks) > 0 {
			t.Errorf("object %s carries planted values: %s at %s", id, leaks[0].Class, leaks[0].Path)
		}
	}
	r.mu.Unlock()
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(want, got) {
		t.Errorf("relay holds %d instances %v; want %d %v", len(got), got, len(want), want)
	}
	q := openTestQueue(t, s.cfg.QueueDB)
	defer q.Close()
	if c := counts(t, q); c[StateCommitted] != n || total(c) != n {
		t.Errorf("queue counts %v; want %d committed", c, n)
	}
}

// TestSCPAssociation checks association negotiation: C-ECHO from allowed
// calling AE titles, rejection of the others and of another called AE.
func TestSCPAssociation(t *testing.T) {
	needTool(t, "echoscu")
	cfg := testConfig(t)
	q := openTestQueue(t, cfg.QueueDB)
	defer q.Close()
	s := startSCP(t, q, DICOMConfig{AETitle: "SITEGATE", AllowedCallingAEs: []string{"CT1", "PACS"}}, t.TempDir())
	h, p, _ := net.SplitHostPort(s.Addr().String())
	for _, tc := range []struct {
		name, aet, aec string
		ok             bool
	}{
		{"allowed", "CT1", "SITEGATE", true},
		{"allowed other", "PACS", "SITEGATE", true},
		{"calling not allowed", "INTRUDER", "SITEGATE", false},
		{"wrong called ae", "CT1", "DICOMGATE", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runTool(t, "echoscu", "-aet", tc.aet, "-aec", tc.aec, h, p)
			if (err == nil) != tc.ok {
				t.Errorf("echoscu -aet %s -aec %s: err %v, want ok=%v\n%s", tc.aet, tc.aec, err, tc.ok, out)
			}
		})
	}
	// A rejected association stores nothing.
	dir, _ := corpus(t, 3, dicomtest.CorpusOptions{Slices: 1, NoExtras: true,
		TransferSyntaxes: []string{dicomtest.ExplicitVRLittleEndian}})
	if out, err := storescu(t, s.Addr().String(), "INTRUDER", "SITEGATE", dir); err == nil {
		t.Errorf("storescu from a disallowed AE succeeded\n%s", out)
	}
	if c := counts(t, q); total(c) != 0 {
		t.Errorf("queue after rejected association: %v", c)
	}
}

// TestSCPRespondsAfterQueueing checks that a success means queued: after
// storescu returns, every instance is in the queue and reads back from its
// journal record; when the queue cannot take an instance the sender sees
// 0xA700 and no file is left behind.
func TestSCPRespondsAfterQueueing(t *testing.T) {
	needTool(t, "storescu")
	cfg := testConfig(t)
	received := filepath.Join(t.TempDir(), "received")
	q := openTestQueue(t, cfg.QueueDB)
	s := startSCP(t, q, DICOMConfig{}, received)
	dir, key := corpus(t, 5, dicomtest.CorpusOptions{Slices: 3,
		TransferSyntaxes: []string{dicomtest.ExplicitVRLittleEndian}})
	splitSyntax(t, dir, key, dicomtest.JPEGBaseline8Bit)
	key.Files = slices.DeleteFunc(key.Files, func(f dicomtest.FileInfo) bool { return f.TransferSyntax == dicomtest.JPEGBaseline8Bit })
	if out, err := storescu(t, s.Addr().String(), "MODALITY", "DICOMGATE", dir); err != nil {
		t.Fatalf("storescu: %v\n%s", err, out)
	}
	items, err := q.List(t.Context(), StateSeen, 1000)
	must(t, err)
	if len(items) != len(key.Files) {
		t.Fatalf("%d items queued when storescu returned; want %d", len(items), len(key.Files))
	}
	// Each item reads its instance back from the intake journal.
	for _, it := range items {
		if it.Root != received {
			t.Errorf("item %d: root not the received folder", it.ID)
		}
		data := sourceBytes(t, it)
		if !slices.ContainsFunc(key.Files, func(f dicomtest.FileInfo) bool { return f.SOPInstanceUID == sopInstance(t, data) }) {
			t.Errorf("item %d reads an instance that was not sent", it.ID)
		}
	}
	if n := len(regularFiles(t, received)); n != 0 {
		t.Errorf("%d files received; want none (the journal holds them)", n)
	}

	// The queue fails (its database is gone): the instance is refused
	// with 0xA700 and nothing of it stays.
	one := filepath.Join(dir, filepath.FromSlash(key.Files[0].Path))
	must(t, q.Close())
	err = storeOne(t, s.Addr().String(), one)
	var se *dimse.StatusError
	if !errors.As(err, &se) || se.Status != dimse.StatusOutOfResources {
		t.Fatalf("store with the queue closed = %v; want status 0xa700", err)
	}
	if n := len(regularFiles(t, received)); n != 0 {
		t.Errorf("%d files in the received folder after the failure; want none", n)
	}
	out, err := storescu(t, s.Addr().String(), "MODALITY", "DICOMGATE", one)
	if err == nil && !bytes.Contains([]byte(out), []byte("0xa700")) && !bytes.Contains([]byte(out), []byte("Out of Resources")) {
		t.Errorf("storescu with the queue closed reported no failure\n%s", out)
	}
}

// splitSyntax moves the corpus files in transfer syntax ts into a new
// folder, which it returns.
func splitSyntax(t *testing.T, dir string, key *dicomtest.Key, ts string) string {
	t.Helper()
	out := t.TempDir()
	for _, f := range key.Files {
		if f.TransferSyntax == ts {
			dst := filepath.Join(out, filepath.FromSlash(f.Path))
			must(t, os.MkdirAll(filepath.Dir(dst), 0o700))
			must(t, os.Rename(filepath.Join(dir, filepath.FromSlash(f.Path)), dst))
		}
	}
	return out
}

// total sums queue counts.
func total(c map[State]int) (n int) {
	for _, v := range c {
		n += v
	}
	return n
}

// storeOne sends one file with our SCU and returns the store error.
func storeOne(t *testing.T, addr, path string) error {
	t.Helper()
	data, err := os.ReadFile(path)
	must(t, err)
	m, err := dimse.ReadFileMeta(bufio.NewReader(bytes.NewReader(data)))
	must(t, err)
	d := dimse.Dialer{Presentations: []dimse.Presentation{{SOPClassUID: m.MediaStorageSOPClassUID, TransferSyntax: m.TransferSyntaxUID}}}
	a, err := d.Dial(t.Context(), addr, "MODALITY", "DICOMGATE")
	must(t, err)
	defer a.Release(t.Context())
	return a.Store(t.Context(), bytes.NewReader(data))
}

// TestSCPRecoversReceived checks start-up: partial instances are removed,
// complete ones that were never queued are queued, queued ones are not
// queued again.
func TestSCPRecoversReceived(t *testing.T) {
	cfg := testConfig(t)
	received := filepath.Join(t.TempDir(), "received")
	must(t, os.MkdirAll(received, 0o700))
	q := openTestQueue(t, cfg.QueueDB)
	defer q.Close()
	for i, name := range []string{"1-a.dcm", ".2-b.dcm.tmp", "3-c.dcm"} {
		must(t, os.WriteFile(filepath.Join(received, name), []byte("x"+strconv.Itoa(i)), 0o600))
	}
	fi, err := os.Stat(filepath.Join(received, "3-c.dcm"))
	must(t, err)
	_, _, err = q.Add(t.Context(), Source{Path: filepath.Join(received, "3-c.dcm"), Size: fi.Size(), ModTime: fi.ModTime(), Root: received})
	must(t, err)
	startSCP(t, q, DICOMConfig{}, received)
	if got := regularFiles(t, received); !slices.Equal(got, []string{"1-a.dcm", "3-c.dcm"}) {
		t.Errorf("received folder holds %v", got)
	}
	if c := counts(t, q); c[StateSeen] != 2 {
		t.Errorf("queue %v; want 2 seen", c)
	}
}

// TestDICOMConfigValidate lists the problems Validate finds in the dicom
// section.
func TestDICOMConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		d    DICOMConfig
		want int
	}{
		{"off", DICOMConfig{}, 0},
		{"on", DICOMConfig{Listen: ":11112", AETitle: "GATE", AllowedCallingAEs: []string{"CT 1"}}, 0},
		{"bad listen", DICOMConfig{Listen: "11112"}, 1},
		{"long ae", DICOMConfig{AETitle: "ABCDEFGHIJKLMNOPQ"}, 1},
		{"backslash", DICOMConfig{AllowedCallingAEs: []string{`A\B`, " "}}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testConfig(t)
			c.DICOM = tc.d
			c.SetDefaults()
			err := c.Validate()
			var ce *ConfigError
			switch {
			case tc.want == 0 && err != nil:
				t.Errorf("Validate = %v", err)
			case tc.want > 0 && (!errors.As(err, &ce) || len(ce.Problems) != tc.want):
				t.Errorf("Validate = %v; want %d problems", err, tc.want)
			}
		})
	}
}
