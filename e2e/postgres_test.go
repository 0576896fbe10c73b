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
	"testing"
	"time"

	"github.com/rs/zerolog"

	"dicomgate/internal/dicomtest"
	"dicomgate/relay"
	"dicomgate/store"
	"dicomgate/store/storetest"
)

// TestTwoRelaysPostgres runs two relay processes sharing one PostgreSQL
// database and one S3 bucket (and the CA and signing key), with one agent
// enrolled at each. The agents split ~200 files between them and both send
// the same first files too. Every instance must be committed exactly once,
// both relays must list the same files, and the audit trail both relays
// wrote must be one log that verifies, with dense indexes.
func TestTwoRelaysPostgres(t *testing.T) {
	s3 := storetest.StartS3(t)
	pg := storetest.StartPostgres(t)
	dsn := pg.NewDatabase(t)
	extra := fmt.Sprintf(`store:
  type: s3
  s3: {endpoint: %q, bucket: %q, access_key: %q, secret_key: %q, region: %q, create_bucket: true}
database:
  type: postgres
  dsn: %q
`, s3.Endpoint, s3.Bucket, s3.AccessKey, string(s3.SecretKey), s3.Region, dsn)
	a := newSite(t, extra) // relay A (relay.yaml, data in relay/) and agent A
	a.startRelay()
	defer func() { stop(a.relay) }()

	// Relay B: the same configuration on other ports and its own data
	// folder holding copies of A's CA and signing key.
	b := &site{t: t, dir: a.dir, relayLog: &bytes.Buffer{}, agentLog: &bytes.Buffer{}}
	rp, ap := freePort(t), freePort(t)
	b.relayAddr = fmt.Sprintf("127.0.0.1:%d", rp)
	b.apiURL = fmt.Sprintf("https://127.0.0.1:%d", ap)
	b.reader = a.reader
	cfgA, err := os.ReadFile(filepath.Join(a.dir, "relay.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfgB := strings.Replace(string(cfgA), "listen: "+a.relayAddr, "listen: "+b.relayAddr, 1)
	cfgB = strings.Replace(cfgB, "api_listen: "+strings.TrimPrefix(a.apiURL, "https://"), "api_listen: "+strings.TrimPrefix(b.apiURL, "https://"), 1)
	cfgB = strings.Replace(cfgB, "data_dir: relay\n", "data_dir: relayB\n", 1)
	writeFile(t, filepath.Join(a.dir, "relayB.yaml"), cfgB)
	if out, err := exec.Command("mkdir", "-p", filepath.Join(a.dir, "relayB")).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	for _, f := range []string{"ca", "relay-signing.key", "relay-signing.pub"} {
		if out, err := exec.Command("cp", "-a", filepath.Join(a.dir, "relay", f), filepath.Join(a.dir, "relayB", f)).CombinedOutput(); err != nil {
			t.Fatalf("copy %s: %v %s", f, err, out)
		}
	}
	b.relay = b.start("relay B", b.relayLog, "relay", "--config", "relayB.yaml")
	defer func() { stop(b.relay) }()
	waitListening(t, b.relayAddr, b.relayLog)

	// Agent B: its own identity, queue and inbox, the same site secret (so
	// the same input gives the same pseudonymous instance at both).
	agentA, err := os.ReadFile(filepath.Join(a.dir, "agent.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	agentB := strings.NewReplacer("address: "+a.relayAddr, "address: "+b.relayAddr,
		"identity_dir: agent/", "identity_dir: agentB/", "spool_dir: agent/", "spool_dir: agentB/",
		"queue_db: agent/", "queue_db: agentB/", "quarantine_dir: agent/", "quarantine_dir: agentB/",
		"path: inbox", "path: inboxB", "site: site-01", "site: site-02").Replace(string(agentA))
	writeFile(t, filepath.Join(a.dir, "agentB.yaml"), agentB)
	a.enrol()
	tok := a.run("token", "create", "--config", "relayB.yaml", "--project", "demo", "--site", "site-02")
	a.run("agent", "enroll", "--config", "agentB.yaml", "--relay", b.relayAddr, "--token", tok)

	key := a.generate(23, dicomtest.CorpusOptions{Patients: 8, Slices: 23, NoExtras: true})
	const both = 10 // the first files go to both agents
	half := len(key.Files) / 2
	filesA, filesB := key.Files[:half], key.Files[half-both:]
	dropInto(t, a.dir, "inbox", filesA)
	dropInto(t, a.dir, "inboxB", filesB)
	t.Logf("%d files: %d to agent A, %d to agent B (%d to both), %d expected, %d quarantined by policy",
		len(key.Files), len(filesA), len(filesB), both, len(a.expected), a.quarantine)

	a.startAgent()
	defer func() { stop(a.agent) }()
	b.agent = b.start("agent B", b.agentLog, "agent", "--config", "agentB.yaml")
	defer func() { stop(b.agent) }()

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	start := time.Now()
	var got map[string]int
	for {
		got, err = committedFiles(ctx, a.client())
		if err == nil && len(got) >= len(a.expected) {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("only %d of %d files committed (err %v)\nagent A:\n%s\nagent B:\n%s", len(got), len(a.expected), err,
				tail(a.agentLog.String(), 2000), tail(b.agentLog.String(), 2000))
		}
		time.Sleep(300 * time.Millisecond)
	}
	t.Logf("%d files committed through two relays in %s", len(got), time.Since(start).Round(time.Millisecond))
	for uid, n := range got {
		if n != 1 {
			t.Errorf("instance %s listed %d times", uid, n)
		}
		if _, ok := a.expected[uid]; !ok {
			t.Errorf("unexpected instance %s", uid)
		}
	}
	gotB, err := committedFiles(ctx, b.client())
	if err != nil || len(gotB) != len(got) {
		t.Errorf("relay B lists %d files (err %v), relay A %d", len(gotB), err, len(got))
	}

	// Both agents' queues drain: the shared files got receipts at both.
	stop(a.agent)
	stop(b.agent)
	stop(a.relay)
	stop(b.relay)

	// One log: dense indexes, entries from both relays, and it verifies.
	db, err := store.OpenPostgres(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	st, err := db.Audit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	size, err := st.AuditSize(ctx)
	if err != nil {
		t.Fatal(err)
	}
	es, err := st.ReadAudit(ctx, 0, size)
	if err != nil || int64(len(es)) != size {
		t.Fatalf("audit: %d entries read of size %d (err %v)", len(es), size, err)
	}
	committed, actors := 0, map[string]bool{}
	for i, e := range es {
		if e.Index != int64(i) {
			t.Fatalf("audit entry %d has index %d: the log forked or has a gap", i, e.Index)
		}
		if e.Action == "file.committed" {
			committed++
			actors[e.Actor] = true
		}
	}
	if committed != len(got) || len(actors) != 2 {
		t.Errorf("%d file.committed events from %d agents; want %d from 2", committed, len(actors), len(got))
	}
	out, err := exec.Command(binary, "audit", "verify", "--config", filepath.Join(a.dir, "relayB.yaml")).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "verified") {
		t.Fatalf("audit verify: %v\n%s", err, out)
	}
	t.Logf("audit: %d entries, dense; %s", size, strings.TrimSpace(strings.Split(string(out), "\n")[0]))

	trail, err := relay.OpenAuditTrail(ctx, *mustLoad(t, filepath.Join(a.dir, "relay.yaml")), zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer trail.Close()
	if r, err := trail.Log.Verify(ctx, trail.Verifiers); err != nil || !r.OK {
		t.Fatalf("OpenAuditTrail verify = %+v, %v", r, err)
	}

	// pg_dump backup, restored into a fresh database, verifies.
	backup := filepath.Join(t.TempDir(), "relay.pgdump")
	if out, err := exec.Command(binary, "backup", "--config", filepath.Join(a.dir, "relay.yaml"), "--out", backup).CombinedOutput(); err != nil {
		t.Fatalf("backup: %v\n%s", err, out)
	}
	cfgC := strings.Replace(string(cfgA), dsn, pg.NewDatabase(t), 1)
	writeFile(t, filepath.Join(a.dir, "relayC.yaml"), cfgC)
	out, err = exec.Command(binary, "restore", "--config", filepath.Join(a.dir, "relayC.yaml"), "--from", backup).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "verified:") {
		t.Fatalf("restore: %v\n%s", err, out)
	}
	t.Logf("pg restore: %s", strings.ReplaceAll(strings.TrimSpace(string(out)), "\n", "; "))
}

// dropInto writes files of the corpus in dir/originals into dir/inbox
// (write + rename, as a modality would).
func dropInto(t *testing.T, dir, inbox string, files []dicomtest.FileInfo) {
	t.Helper()
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(dir, "originals", filepath.FromSlash(f.Path)))
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(dir, inbox, filepath.FromSlash(f.Path))
		os.MkdirAll(filepath.Dir(dst), 0o700)
		if err := os.WriteFile(dst+".part", data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(dst+".part", dst); err != nil {
			t.Fatal(err)
		}
	}
}

// waitListening waits for a relay to accept TCP connections on addr.
func waitListening(t *testing.T, addr string, log *bytes.Buffer) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("relay did not start:\n%s", log.String())
}

// mustLoad loads a relay configuration.
func mustLoad(t *testing.T, path string) *relay.Config {
	t.Helper()
	cfg, err := relay.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}
