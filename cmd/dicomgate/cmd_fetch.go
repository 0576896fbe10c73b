package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"dicomgate/internal/forward"
	"dicomgate/internal/progress"
	"dicomgate/relay"
	"dicomgate/seal"
)

// tokenEnv may hold the reader token instead of --token or --token-file.
const tokenEnv = "DICOMGATE_TOKEN"

// fetchOptions are the flags of `dicomgate fetch`.
type fetchOptions struct {
	relayURL      string
	project       string
	study         string
	key           string
	out           string
	token         string
	tokenFile     string
	caFingerprint string
	forward       string // AE@host:port
	forwardAET    string
	forwardSTOW   string // DICOMweb root URL
}

func newFetchCommand(g *globalOptions) *cobra.Command {
	var o fetchOptions
	cmd := &cobra.Command{
		Use:   "fetch --relay URL --project P [--study UID] --key NAME.key --out DIR",
		Short: "Download, verify and decrypt a project's studies from a relay",
		Long: `Download the sealed files of a project (or one study) from the relay's HTTPS
API, check each manifest's signature against the project's enrolled agents,
the sealed bytes and the decrypted plaintext against the manifest, and write
DIR/<study uid>/<series uid>/<sop instance uid>.dcm. A file that fails any
check is not written and the exit status is 1. Re-running resumes partial
downloads and skips files already in place.

The token comes from --token, --token-file or $DICOMGATE_TOKEN. Pin the
relay's CA with --ca-fingerprint (logged by dicomgate relay at start-up).

With --forward AE@host:port (C-STORE) and/or --forward-stow URL (DICOMweb
STOW-RS, posted to URL/studies), every file in DIR (or DIR/<study uid> with
--study) is then sent to a PACS, including files fetched by earlier runs; a
file the PACS refuses makes the exit status 1.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runFetch(cmd, g, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.relayURL, "relay", "", "relay API URL, e.g. https://relay.example.org:8443; required")
	f.StringVar(&o.project, "project", "", "project to download; required")
	f.StringVar(&o.study, "study", "", "download only this study UID")
	f.StringVar(&o.key, "key", "", "core-lab secret key file (NAME.key); required")
	f.StringVar(&o.out, "out", "", "output folder; required")
	f.StringVar(&o.token, "token", "", "API bearer token (visible in the process list: prefer --token-file)")
	f.StringVar(&o.tokenFile, "token-file", "", "file holding the API bearer token")
	f.StringVar(&o.caFingerprint, "ca-fingerprint", "", "pin the relay CA (hex SHA-256); default: system roots")
	f.StringVar(&o.forward, "forward", "", "after fetching, C-STORE the files to this PACS (AE@host:port)")
	f.StringVar(&o.forwardAET, "forward-aet", forward.DefaultCallingAE, "calling AE title for --forward")
	f.StringVar(&o.forwardSTOW, "forward-stow", "", "after fetching, send the files by STOW-RS to this DICOMweb root URL")
	for _, n := range []string{"relay", "project", "key", "out"} {
		cmd.MarkFlagRequired(n)
	}
	return cmd
}

func runFetch(cmd *cobra.Command, g *globalOptions, o fetchOptions) error {
	token, err := fetchToken(o)
	if err != nil {
		return err
	}
	fwds, err := fetchForwarders(g, cmd, o)
	if err != nil {
		return err
	}
	id, err := seal.LoadIdentity(o.key)
	if err != nil {
		return err
	}
	stderr := cmd.ErrOrStderr()
	c := &relay.Client{BaseURL: o.relayURL, Token: token, CAFingerprint: o.caFingerprint}
	pr := progress.New(stderr, isTerminal(stderr))
	start := time.Now()
	failed := 0
	res, err := relay.Fetch(cmd.Context(), c, relay.FetchOptions{
		Project:  o.project,
		Study:    o.study,
		Identity: id,
		OutDir:   o.out,
		Progress: func(p relay.FetchProgress) {
			extra := ""
			if p.Err != nil {
				failed++
			}
			if failed > 0 {
				extra = fmt.Sprintf("%d failed", failed)
			}
			pr.Update(p.Done, p.Total, p.Bytes, time.Since(start), extra)
		},
	})
	if res == nil {
		return err
	}
	err = errors.Join(append(unwrapAll(err), relay.WriteImagingStudies(cmd.Context(), c, o.project, o.study, o.out))...) // DIR/<study>/imagingstudy.json
	fmt.Fprintf(stderr, "%d files: %d fetched, %d already present, %d failed (%.1f MB downloaded)\n",
		res.Files, res.Fetched, res.Skipped, res.Failed, float64(res.Bytes)/1e6)
	if ferr := runForward(cmd, fwds, o); ferr != nil {
		if err == nil {
			return ferr
		}
		fmt.Fprintln(stderr, ferr)
	}
	if err != nil {
		var fe *relay.FileError
		for _, e := range unwrapAll(err) {
			if errors.As(e, &fe) {
				fmt.Fprintln(stderr, " ", e)
			}
		}
		if res.Failed > 0 {
			return &exitError{code: 1, msg: fmt.Sprintf("%d of %d files failed verification or download; nothing was written for them", res.Failed, res.Files)}
		}
		return err
	}
	return nil
}

// fetchToken reads the bearer token from the flags or the environment.
func fetchToken(o fetchOptions) (string, error) {
	switch {
	case o.token != "" && o.tokenFile != "":
		return "", errors.New("fetch: give --token or --token-file, not both")
	case o.token != "":
		return o.token, nil
	case o.tokenFile != "":
		b, err := os.ReadFile(o.tokenFile)
		if err != nil {
			return "", fmt.Errorf("fetch: token file: %w", err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	if t := os.Getenv(tokenEnv); t != "" {
		return t, nil
	}
	return "", errors.New("fetch: a token is required (--token, --token-file or $" + tokenEnv + ")")
}

// unwrapAll flattens a joined error.
func unwrapAll(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// namedForwarder is a forwarder with the name it reports under.
type namedForwarder struct {
	name string
	fwd  forward.Forwarder
}

// fetchForwarders builds the forwarders the --forward flags ask for.
func fetchForwarders(g *globalOptions, cmd *cobra.Command, o fetchOptions) ([]namedForwarder, error) {
	var fwds []namedForwarder
	if o.forward != "" {
		ae, addr, err := forward.ParseAETarget(o.forward)
		if err != nil {
			return nil, fmt.Errorf("fetch: --forward: %w", err)
		}
		fwds = append(fwds, namedForwarder{"c-store to " + o.forward,
			&forward.CStore{Addr: addr, CalledAE: ae, CallingAE: o.forwardAET, Logger: g.logger(cmd.ErrOrStderr())}})
	}
	if o.forwardSTOW != "" {
		fwds = append(fwds, namedForwarder{"stow-rs to " + o.forwardSTOW,
			&forward.STOW{URL: o.forwardSTOW, Logger: g.logger(cmd.ErrOrStderr())}})
	}
	return fwds, nil
}

// runForward sends the fetched files with each forwarder.
func runForward(cmd *cobra.Command, fwds []namedForwarder, o fetchOptions) error {
	if len(fwds) == 0 {
		return nil
	}
	root := o.out
	if o.study != "" {
		root = filepath.Join(o.out, o.study)
	}
	files, err := forward.Files(root)
	if err != nil {
		return err
	}
	stderr := cmd.ErrOrStderr()
	failed := 0
	for _, f := range fwds {
		res, err := f.fwd.Forward(cmd.Context(), files)
		if res == nil {
			return err
		}
		fmt.Fprintf(stderr, "%s: %d files: %d sent, %d failed (%.1f MB)\n", f.name, res.Files, res.Sent, res.Failed, float64(res.Bytes)/1e6)
		for _, e := range unwrapAll(err) {
			var fe *forward.FileError
			if errors.As(e, &fe) {
				fmt.Fprintln(stderr, " ", e)
			}
		}
		failed += res.Failed
	}
	if failed > 0 {
		return &exitError{code: 1, msg: fmt.Sprintf("%d files were not forwarded", failed)}
	}
	return nil
}
