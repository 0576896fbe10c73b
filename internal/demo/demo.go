// Package demo runs the whole product on one machine with embedded
// defaults, for `dicomgate demo`: a relay (SQLite, filesystem store, its own
// CA) and a site agent in one process, synthetic studies with planted
// identifiers dropped into the agent's watched folder, then a core lab that
// fetches, verifies and decrypts them with its own key. Every step is
// checked: the fetched files must be byte-identical to what `dicomgate
// anonymize` makes of the same inputs, and no planted identifier and no
// readable DICOM may be found at the relay.
//
// Everything the demo writes lives in one work folder (DIR/relay.yaml,
// DIR/agent.yaml, stores, databases, spool), so the other commands can be
// pointed at it afterwards.
package demo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"dicomgate/agent"
	"dicomgate/anonymize"
	"dicomgate/internal/dicomtest"
	"dicomgate/policy"
	"dicomgate/relay"
	"dicomgate/store"
)

// Options configure a demo run.
type Options struct {
	// WorkDir keeps everything in this folder. Default: a temporary folder
	// removed at the end.
	WorkDir string
	// Keep leaves relay and agent running after the check, until ctx ends.
	Keep bool
	// Patients and Slices size the generated corpus. Defaults: 3 and 12.
	Patients, Slices int
	// Timeout bounds the wait for the transfer. Default: 3 minutes.
	Timeout time.Duration
	// Out receives the human-readable report. Default: io.Discard.
	Out io.Writer
	// Logger receives the components' logs. Default: silent.
	Logger zerolog.Logger
	// S3, when set, stores the relay's objects in this S3 bucket instead
	// of the filesystem.
	S3 *store.S3Config
	// Seed selects the generated corpus. Default: 2026.
	Seed uint64
}

// Result is what a demo run did.
type Result struct {
	WorkDir     string
	Inputs      int // files dropped in the watched folder
	Committed   int // files committed at the relay
	Quarantined int // files the agent quarantined (reason files)
	Fetched     int // files fetched, verified and decrypted
	Identical   int // fetched files byte-identical to `dicomgate anonymize`
	Studies     int
	RelayAddr   string
	APIURL      string
}

const (
	project = "demo"
	site    = "site-01"
)

// Run runs the demo. It returns an error if any check fails.
func Run(ctx context.Context, o Options) (*Result, error) {
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Patients <= 0 {
		o.Patients = 3
	}
	if o.Slices <= 0 {
		o.Slices = 12
	}
	if o.Timeout <= 0 {
		o.Timeout = 3 * time.Minute
	}
	dir := o.WorkDir
	if dir == "" {
		d, err := os.MkdirTemp("", "dicomgate-demo-")
		if err != nil {
			return nil, fmt.Errorf("demo: %w", err)
		}
		dir = d
		if !o.Keep {
			defer os.RemoveAll(dir)
		}
	}
	dir, _ = filepath.Abs(dir)
	w, err := newWorkspace(dir)
	if err != nil {
		return nil, err
	}
	res := &Result{WorkDir: dir}
	say := func(format string, args ...any) { fmt.Fprintf(o.Out, format+"\n", args...) }

	// Core lab key and site secret.
	id, err := w.coreLabKey()
	if err != nil {
		return nil, err
	}
	secret, _, err := policy.LoadOrCreateSecret(w.path("agent", "secret.key"))
	if err != nil {
		return nil, err
	}
	polPath := w.path("policies", "basic.yaml")
	pol, err := policy.Load(polPath)
	if err != nil {
		return nil, err
	}
	say("policy %s v%d (sha256 %s): PS3.15 Basic Profile", pol.ID(), pol.Version(), pol.Hash()[:12])

	// Relay.
	readerToken, readerHash, err := relay.NewReaderToken()
	if err != nil {
		return nil, err
	}
	rcfg, err := w.relayConfig(id.Recipient().String(), pol.Hash(), readerHash, o.S3)
	if err != nil {
		return nil, err
	}
	srv, err := relay.New(*rcfg, o.Logger.With().Str("component", "relay").Logger())
	if err != nil {
		return nil, err
	}
	if err := srv.Open(ctx); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	relayDone := make(chan error, 1)
	go func() { relayDone <- srv.Run(ctx) }()
	select {
	case <-srv.Ready():
	case err := <-relayDone:
		return nil, fmt.Errorf("demo: relay stopped: %w", err)
	case <-time.After(30 * time.Second):
		return nil, errors.New("demo: relay did not start")
	}
	caFP, err := srv.CAFingerprint()
	if err != nil {
		return nil, err
	}
	res.RelayAddr = srv.Addr().String()
	res.APIURL = "https://" + srv.APIAddr().String()
	say("relay listening on %s (QUIC + TLS/TCP), API %s, CA %s", res.RelayAddr, res.APIURL, caFP[:16])
	if err := os.WriteFile(w.path("corelab.token"), []byte(readerToken+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}

	// Agent: enrol with a single-use token, then run.
	token, err := srv.CreateEnrolmentToken(ctx, project, site)
	if err != nil {
		return nil, err
	}
	acfg, err := w.agentConfig(res.RelayAddr, id.Recipient().String())
	if err != nil {
		return nil, err
	}
	ident, err := agent.Enroll(ctx, acfg.IdentityDir, res.RelayAddr, token, site, false)
	if err != nil {
		return nil, err
	}
	say("agent enrolled as %s (Ed25519 key, certificate from the relay CA)", ident.AgentID)
	ag, err := agent.New(acfg, o.Logger.With().Str("component", "agent").Logger())
	if err != nil {
		return nil, err
	}
	agentDone := make(chan error, 1)
	go func() { agentDone <- ag.Run(ctx) }()

	// Studies with planted identifiers, dropped atomically into the inbox.
	if o.Seed == 0 {
		o.Seed = 2026
	}
	key, err := dicomtest.WriteCorpus(w.path("originals"), o.Seed, dicomtest.CorpusOptions{Patients: o.Patients, Slices: o.Slices})
	if err != nil {
		return nil, fmt.Errorf("demo: generate: %w", err)
	}
	expected, quarantined, err := w.expectedOutputs(ctx, key, secret, pol)
	if err != nil {
		return nil, err
	}
	if err := w.drop(key); err != nil {
		return nil, err
	}
	res.Inputs = len(key.Files)
	say("dropped %d files of %d patients into %s (%d will be quarantined by the policy)", res.Inputs, o.Patients, w.path("inbox"), quarantined)

	// Wait for the relay to hold every file that is not quarantined.
	client := &relay.Client{BaseURL: res.APIURL, Token: readerToken, CAFingerprint: caFP}
	want := len(expected)
	start := time.Now()
	deadline := time.Now().Add(o.Timeout)
	last := -1
	for {
		n, studies, err := committed(ctx, client)
		if err == nil {
			res.Committed, res.Studies = n, studies
			if n != last {
				say("  %d/%d files committed at the relay (%d studies)", n, want, studies)
				last = n
			}
			if n >= want {
				break
			}
		}
		select {
		case err := <-agentDone:
			return res, fmt.Errorf("demo: agent stopped: %v", err)
		case <-ctx.Done():
			return res, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return res, fmt.Errorf("demo: only %d of %d files committed after %s", last, want, o.Timeout)
		}
	}
	say("transfer done in %s", time.Since(start).Round(time.Millisecond))
	res.Quarantined = countReasons(w.path("agent", "quarantine"))

	// Core lab: fetch, verify signatures and hashes, decrypt.
	out := w.path("fetched")
	fr, err := relay.Fetch(ctx, client, relay.FetchOptions{Project: project, Identity: id, OutDir: out})
	if err != nil {
		return res, fmt.Errorf("demo: fetch: %w", err)
	}
	res.Fetched = fr.Fetched + fr.Skipped
	say("core lab fetched %d files (%.1f MB), signatures and hashes verified, decrypted into %s", res.Fetched, float64(fr.Bytes)/1e6, out)

	// Checks.
	if res.Identical, err = compareFetched(out, expected); err != nil {
		return res, err
	}
	say("check: all %d fetched files are byte-identical to `dicomgate anonymize` of the inputs", res.Identical)
	if err := noPHIAtRelay(w.path("relay"), key); err != nil {
		return res, err
	}
	say("check: the relay's disk holds no readable DICOM and none of the %d planted identifiers", len(key.Values))
	if err := noLeaks(out, key); err != nil {
		return res, err
	}
	say("check: no planted identifier in any fetched file")
	if quarantined != res.Quarantined {
		return res, fmt.Errorf("demo: %d files quarantined, expected %d", res.Quarantined, quarantined)
	}

	if o.Keep {
		say("\nrelay and agent keep running (Ctrl-C to stop). Drop DICOM files into:\n  %s", w.path("inbox"))
		say("fetch with:\n  dicomgate fetch --relay %s --project %s --key %s --token-file %s --ca-fingerprint %s --out DIR",
			res.APIURL, project, w.path("corelab.key"), w.path("corelab.token"), caFP)
		<-ctx.Done()
	}
	cancel()
	for _, ch := range []chan error{agentDone, relayDone} {
		select {
		case <-ch:
		case <-time.After(30 * time.Second):
		}
	}
	return res, nil
}

// committed counts files and studies at the relay.
func committed(ctx context.Context, c *relay.Client) (files, studies int, err error) {
	st, err := c.Studies(ctx, project)
	if err != nil {
		return 0, 0, err
	}
	for _, s := range st {
		files += s.Files
	}
	return files, len(st), nil
}

func countReasons(dir string) int {
	n := 0
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".reason") {
			n++
		}
		return nil
	})
	return n
}

// expectedOutputs anonymises every input as `dicomgate anonymize` would,
// keyed by pseudonymous SOP Instance UID.
func (w *workspace) expectedOutputs(ctx context.Context, key *dicomtest.Key, secret []byte, pol *policy.Policy) (map[string][]byte, int, error) {
	prof, err := pol.Compile(secret)
	if err != nil {
		return nil, 0, err
	}
	a, err := anonymize.New(prof)
	if err != nil {
		return nil, 0, err
	}
	out := map[string][]byte{}
	quarantined := 0
	for _, f := range key.Files {
		data, err := os.ReadFile(filepath.Join(w.path("originals"), filepath.FromSlash(f.Path)))
		if err != nil {
			return nil, 0, fmt.Errorf("demo: %w", err)
		}
		var buf bytes.Buffer
		rep, err := a.Anonymize(ctx, bytes.NewReader(data), &buf)
		if err != nil {
			quarantined++
			continue
		}
		out[rep.SOPInstanceUID] = buf.Bytes()
	}
	return out, quarantined, nil
}

func compareFetched(dir string, expected map[string][]byte) (int, error) {
	same := 0
	seen := map[string]bool{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".dcm") {
			return err
		}
		uid := strings.TrimSuffix(filepath.Base(p), ".dcm")
		want, ok := expected[uid]
		if !ok {
			return fmt.Errorf("demo: fetched an unexpected instance %s", uid)
		}
		got, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if !bytes.Equal(got, want) {
			return fmt.Errorf("demo: fetched %s differs from the local anonymisation", uid)
		}
		seen[uid] = true
		same++
		return nil
	})
	if err != nil {
		return same, err
	}
	if len(seen) != len(expected) {
		return same, fmt.Errorf("demo: fetched %d of %d expected instances", len(seen), len(expected))
	}
	return same, nil
}

// noPHIAtRelay checks every file the relay wrote: no DICOM preamble and no
// planted identifier.
func noPHIAtRelay(dir string, key *dicomtest.Key) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if len(data) >= 132 && string(data[128:132]) == "DICM" {
			return fmt.Errorf("demo: readable DICOM at the relay: %s", p)
		}
		// Purely numeric values (a private IS, a weight) occur by chance in
		// a binary database file; names, IDs and tokens do not.
		if leaks := key.Search(data, func(pl dicomtest.Planted) bool {
			return pl.Searchable && strings.Trim(pl.Value, "0123456789.+- ") != ""
		}); len(leaks) > 0 {
			return fmt.Errorf("demo: planted %s value found at the relay in %s", leaks[0].Class, p)
		}
		if strings.Contains(filepath.ToSlash(p), "PHI-") {
			return fmt.Errorf("demo: identifier in a relay file name: %s", p)
		}
		return nil
	})
}

func noLeaks(dir string, key *dicomtest.Key) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		// Dates and times are judged by value, not by a byte search: a
		// shifted date of one patient can equal a planted date of another.
		// Purely numeric values (a private IS, a weight) can occur by
		// chance inside the keyed UIDs: the kit's checker judges those.
		leaks := key.Search(data, func(p dicomtest.Planted) bool {
			return p.InProfile && p.Searchable && p.Class != dicomtest.ClassDate && p.Class != dicomtest.ClassTime &&
				strings.Trim(p.Value, "0123456789.+- ") != ""
		})
		if len(leaks) > 0 {
			return fmt.Errorf("demo: fetched file %s leaks a %s value planted at %s", filepath.Base(p), leaks[0].Class, leaks[0].Path)
		}
		return nil
	})
}

// freePort returns a TCP port that is free on 127.0.0.1 right now (and, for
// the relay, whose UDP twin is free too).
func freePort() (int, error) {
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		l.Close()
		if err != nil {
			continue
		}
		u.Close()
		return port, nil
	}
	return 0, errors.New("demo: no free port")
}
