package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"dicomgate/anonymize"
	"dicomgate/configs"
	"dicomgate/internal/dicomtest"
	"dicomgate/policy"
	"dicomgate/relay"
	"dicomgate/seal"
	"dicomgate/transport"
)

// binary is the dicomgate binary built once for the process tests.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "dicomgate-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "dicomgate")
	out, err := exec.Command("go", "build", "-o", binary, "dicomgate/cmd/dicomgate").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build dicomgate: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// site is a relay and an agent run as separate processes from one folder.
type site struct {
	t          *testing.T
	dir        string
	relayAddr  string
	apiURL     string
	reader     string
	identity   *seal.Identity
	relay      *exec.Cmd
	agent      *exec.Cmd
	relayLog   *bytes.Buffer
	agentLog   *bytes.Buffer
	expected   map[string][]byte // pseudonymous SOP instance UID -> anonymised bytes
	quarantine int
	inputs     int
}

func freePort(t *testing.T) int {
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		l.Close()
		if err == nil {
			u.Close()
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

func newSite(t *testing.T, extraRelayYAML string) *site {
	t.Helper()
	s := &site{t: t, dir: t.TempDir(), relayLog: &bytes.Buffer{}, agentLog: &bytes.Buffer{}}
	d := s.dir
	for _, sub := range []string{"policies", "inbox", "originals"} {
		os.MkdirAll(filepath.Join(d, sub), 0o700)
	}
	if err := os.WriteFile(filepath.Join(d, "policies", "basic.yaml"), configs.BasicPolicy(), 0o600); err != nil {
		t.Fatal(err)
	}
	pol, err := policy.Load(filepath.Join(d, "policies", "basic.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	rcp, err := seal.WriteKeyPair(filepath.Join(d, "corelab"))
	if err != nil {
		t.Fatal(err)
	}
	if s.identity, err = seal.LoadIdentity(filepath.Join(d, "corelab.key")); err != nil {
		t.Fatal(err)
	}
	token, hash, err := relay.NewReaderToken()
	if err != nil {
		t.Fatal(err)
	}
	s.reader = token
	rp, ap := freePort(t), freePort(t)
	s.relayAddr = fmt.Sprintf("127.0.0.1:%d", rp)
	s.apiURL = fmt.Sprintf("https://127.0.0.1:%d", ap)
	writeFile(t, filepath.Join(d, "relay.yaml"), fmt.Sprintf(`listen: 127.0.0.1:%d
api_listen: 127.0.0.1:%d
data_dir: relay
projects:
  - id: demo
    recipients: [%s]
    policy_hashes: [%s]
readers:
  - name: corelab
    token_hash: %s
    projects: [demo]
%s`, rp, ap, rcp.String(), pol.Hash(), hash, extraRelayYAML))
	writeFile(t, filepath.Join(d, "agent.yaml"), fmt.Sprintf(`site: site-01
project: demo
relay:
  address: %s
identity_dir: agent/identity
policy: policies/basic.yaml
secret_file: agent/secret.key
recipients: [%s]
watch:
  - path: inbox
    recursive: true
    stable_for: 200ms
    rescan_every: 1s
spool_dir: agent/spool
queue_db: agent/queue.db
quarantine_dir: agent/quarantine
retry: {min: 100ms, max: 2s}
`, s.relayAddr, rcp.String()))
	return s
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

// addAgentYAML appends text (top-level keys) to the agent's configuration.
func (s *site) addAgentYAML(text string) {
	s.t.Helper()
	f, err := os.OpenFile(filepath.Join(s.dir, "agent.yaml"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		s.t.Fatal(err)
	}
	_, err = f.WriteString(text)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		s.t.Fatal(err)
	}
}

func (s *site) run(args ...string) string {
	s.t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Dir = s.dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		s.t.Fatalf("dicomgate %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	return strings.TrimSpace(out.String())
}

func (s *site) start(name string, log *bytes.Buffer, args ...string) *exec.Cmd {
	s.t.Helper()
	cmd := exec.Command(binary, append([]string{"--log-format", "json"}, args...)...)
	cmd.Dir = s.dir
	cmd.Stdout, cmd.Stderr = log, log
	cmd.Env = append(os.Environ(), "QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING=true")
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start %s: %v", name, err)
	}
	return cmd
}

func (s *site) startRelay() {
	s.relay = s.start("relay", s.relayLog, "relay", "--config", "relay.yaml")
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("tcp", s.relayAddr); err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.t.Fatalf("relay did not start:\n%s", s.relayLog.String())
}

func (s *site) startAgent() {
	s.agent = s.start("agent", s.agentLog, "agent", "--config", "agent.yaml")
}

func kill9(cmd *exec.Cmd) {
	if cmd != nil && cmd.Process != nil {
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
	}
}

func stop(cmd *exec.Cmd) {
	if cmd != nil && cmd.Process != nil {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cmd.Process.Signal(syscall.SIGKILL)
			<-done
		}
	}
}

// enrol creates a token with the relay's CLI and enrols the agent.
func (s *site) enrol() {
	tok := s.run("token", "create", "--config", "relay.yaml", "--project", "demo", "--site", "site-01")
	s.run("agent", "enroll", "--config", "agent.yaml", "--relay", s.relayAddr, "--token", tok)
}

// generate writes the corpus into originals/ and computes the expected
// anonymised bytes with the agent's secret.
func (s *site) generate(seed uint64, opts dicomtest.CorpusOptions) *dicomtest.Key {
	s.t.Helper()
	key, err := dicomtest.WriteCorpus(filepath.Join(s.dir, "originals"), seed, opts)
	if err != nil {
		s.t.Fatal(err)
	}
	secret, _, err := policy.LoadOrCreateSecret(filepath.Join(s.dir, "agent", "secret.key"))
	if err != nil {
		s.t.Fatal(err)
	}
	pol, err := policy.Load(filepath.Join(s.dir, "policies", "basic.yaml"))
	if err != nil {
		s.t.Fatal(err)
	}
	prof, err := pol.Compile(secret)
	if err != nil {
		s.t.Fatal(err)
	}
	a, err := anonymize.New(prof)
	if err != nil {
		s.t.Fatal(err)
	}
	s.expected = map[string][]byte{}
	for _, f := range key.Files {
		data, err := os.ReadFile(filepath.Join(s.dir, "originals", filepath.FromSlash(f.Path)))
		if err != nil {
			s.t.Fatal(err)
		}
		var buf bytes.Buffer
		rep, err := a.Anonymize(context.Background(), bytes.NewReader(data), &buf)
		if err != nil {
			s.quarantine++
			continue
		}
		s.expected[rep.SOPInstanceUID] = buf.Bytes()
	}
	s.inputs = len(key.Files)
	return key
}

// drop moves the originals into the watched folder (write + rename).
func (s *site) drop(key *dicomtest.Key) {
	s.t.Helper()
	for _, f := range key.Files {
		src := filepath.Join(s.dir, "originals", filepath.FromSlash(f.Path))
		dst := filepath.Join(s.dir, "inbox", filepath.FromSlash(f.Path))
		os.MkdirAll(filepath.Dir(dst), 0o700)
		data, err := os.ReadFile(src)
		if err != nil {
			s.t.Fatal(err)
		}
		if err := os.WriteFile(dst+".part", data, 0o600); err != nil {
			s.t.Fatal(err)
		}
		if err := os.Rename(dst+".part", dst); err != nil {
			s.t.Fatal(err)
		}
	}
}

func (s *site) client() *relay.Client {
	s.t.Helper()
	pem, err := os.ReadFile(filepath.Join(s.dir, "relay", "ca", "ca.crt"))
	if err != nil {
		s.t.Fatal(err)
	}
	cert, err := transport.ParseCertificatePEM(pem)
	if err != nil {
		s.t.Fatal(err)
	}
	return &relay.Client{BaseURL: s.apiURL, Token: s.reader, CAFingerprint: transport.Fingerprint(cert)}
}

// committedFiles lists the files the relay holds, by SOP instance UID.
func committedFiles(ctx context.Context, c *relay.Client) (map[string]int, error) {
	studies, err := c.Studies(ctx, "demo")
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, st := range studies {
		files, err := c.Files(ctx, "demo", st.StudyUID)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			out[f.InstanceUID]++
		}
	}
	return out, nil
}
