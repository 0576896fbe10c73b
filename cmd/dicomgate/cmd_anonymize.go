package main

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"dicomgate/anonymize"
	"dicomgate/internal/batch"
	"dicomgate/internal/progress"
	"dicomgate/policy"
)

// anonymizeOptions are the flags of `dicomgate anonymize`.
type anonymizeOptions struct {
	policy     string
	secretFile string
	quarantine string
	mapDir     string
	workers    int
}

func newAnonymizeCommand(g *globalOptions) *cobra.Command {
	var o anonymizeOptions
	cmd := &cobra.Command{
		Use:   "anonymize --policy P.yaml IN OUT",
		Short: "Anonymise a DICOM file or folder tree with a policy",
		Long: `Anonymise a DICOM file or every file of a folder tree into OUT (same relative
paths). Files that cannot be anonymised are copied to the quarantine folder
with a .reason file and never written to OUT; the exit status is then 3.

Pseudonyms (UIDs, date shifts, hashed IDs) are keyed by a site secret. Without
--secret-file one is created once in the user's config folder and reused, so
the same input always gives the same output.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runAnonymize(cmd, g, o, args[0], args[1])
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.policy, "policy", "", "policy file (YAML); required")
	f.StringVar(&o.secretFile, "secret-file", "", "site secret file (default: created in the user config folder)")
	f.StringVar(&o.quarantine, "quarantine", "", "quarantine folder (default: OUT.quarantine)")
	f.StringVar(&o.mapDir, "map-dir", "", "write uid_map.csv and patient_map.csv (original -> pseudonym) here; re-identifying, keep at the site")
	f.IntVar(&o.workers, "workers", 0, "files anonymised at once (default: number of cores)")
	cmd.MarkFlagRequired("policy")
	return cmd
}

// loadProfile loads and compiles a policy with the site secret.
func loadProfile(cmd *cobra.Command, policyPath, secretPath string) (*anonymize.Profile, *policy.Policy, error) {
	pol, err := policy.Load(policyPath)
	if err != nil {
		return nil, nil, err
	}
	if secretPath == "" {
		p, err := policy.DefaultSecretPath()
		if err != nil {
			return nil, nil, err
		}
		secretPath = p
	}
	secret, created, err := policy.LoadOrCreateSecret(secretPath)
	if err != nil {
		return nil, nil, err
	}
	if created {
		fmt.Fprintf(cmd.ErrOrStderr(), "created a new site secret in %s: keep it, pseudonyms depend on it\n", secretPath)
	}
	prof, err := pol.Compile(secret)
	if err != nil {
		return nil, nil, err
	}
	return prof, pol, nil
}

func runAnonymize(cmd *cobra.Command, g *globalOptions, o anonymizeOptions, in, out string) error {
	prof, pol, err := loadProfile(cmd, o.policy, o.secretFile)
	if err != nil {
		return err
	}
	var opts []anonymize.Option
	var rec *batch.MapRecorder
	if o.mapDir != "" {
		rec = batch.NewMapRecorder()
		opts = append(opts, anonymize.WithRecorder(rec))
	}
	a, err := anonymize.New(prof, opts...)
	if err != nil {
		return err
	}
	stderr := cmd.ErrOrStderr()
	pr := progress.New(stderr, isTerminal(stderr))
	fmt.Fprintf(stderr, "policy %s v%d (sha256 %s)\n", pol.ID(), pol.Version(), short(pol.Hash()))
	res, err := batch.Run(cmd.Context(), a, in, out, batch.Options{
		Workers:       o.workers,
		QuarantineDir: o.quarantine,
		Progress: func(p batch.Progress) {
			extra := ""
			if p.Quarantined > 0 {
				extra = fmt.Sprintf("%d quarantined", p.Quarantined)
			}
			pr.Update(p.Done, p.Total, p.Bytes, p.Elapsed, extra)
		},
	})
	if err != nil {
		return err
	}
	if rec != nil {
		if err := rec.WriteCSV(o.mapDir); err != nil {
			return err
		}
	}
	secs := res.Elapsed.Seconds()
	if secs <= 0 {
		secs = time.Millisecond.Seconds()
	}
	fmt.Fprintf(cmd.OutOrStdout(), "anonymised %d files (%.1f MB) in %s: %.0f files/s, %.1f MB/s; quarantined %d\n",
		res.Done-res.Quarantined, float64(res.Bytes)/1e6, res.Elapsed.Round(time.Millisecond),
		float64(res.Done)/secs, float64(res.Bytes)/1e6/secs, res.Quarantined)
	if res.Quarantined > 0 {
		fmt.Fprintf(cmd.OutOrStdout(), "quarantined files and their reasons are in %s\n", res.QuarantineDir)
		return &exitError{code: 3}
	}
	_ = os.Stdout
	return nil
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}
