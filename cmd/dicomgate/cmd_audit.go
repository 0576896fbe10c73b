package main

import (
	"fmt"
	"io"
	"os"
	"os/user"
	"time"

	"github.com/spf13/cobra"

	"dicomgate/audit"
	"dicomgate/relay"
)

func newAuditCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Verify and export the relay's tamper-evident audit trail",
	}
	cmd.AddCommand(newAuditVerifyCommand(g), newAuditExportCommand(g))
	return cmd
}

// openTrail loads the relay configuration and opens its audit trail.
func openTrail(cmd *cobra.Command, g *globalOptions, config string) (*relay.AuditTrail, error) {
	cfg, err := relay.Load(config)
	if err != nil {
		return nil, err
	}
	return relay.OpenAuditTrail(cmd.Context(), *cfg, g.logger(cmd.ErrOrStderr()))
}

// cliActor names the person at the terminal in audit events.
func cliActor() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return "cli:" + u.Username
	}
	return "cli"
}

func newAuditVerifyCommand(g *globalOptions) *cobra.Command {
	var config string
	cmd := &cobra.Command{
		Use:   "verify --config relay.yaml",
		Short: "Check every entry against the signed checkpoints; exit 1 naming the first bad entry",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			trail, err := openTrail(cmd, g, config)
			if err != nil {
				return err
			}
			defer trail.Close()
			r, err := trail.Log.Verify(cmd.Context(), trail.Verifiers)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			latest := "none"
			if r.Latest != nil {
				latest = fmt.Sprintf("size %d, signed %s", r.Latest.Size, r.Latest.CreatedAt.UTC().Format(time.RFC3339))
			}
			fmt.Fprintf(out, "audit trail: %d entries, %d checkpoints (latest: %s), %d entries after the latest checkpoint\n",
				r.Size, r.Checkpoints, latest, r.Unsealed)
			result := "ok"
			if !r.OK {
				result = "tampered"
			}
			ev := audit.Event{Actor: cliActor(), Action: audit.ActionVerify, Reason: result,
				Details: map[string]any{"entries": r.Size, "checkpoints": r.Checkpoints}}
			if r.OK {
				// Record the verification (a tampered log is not extended).
				if _, err := trail.Log.Append(cmd.Context(), ev); err != nil {
					return err
				}
				fmt.Fprintln(out, "verified: no entry was edited, deleted, inserted or reordered")
				return nil
			}
			for i, p := range r.Problems {
				if i == 10 {
					fmt.Fprintf(out, "... %d more problems\n", len(r.Problems)-10)
					break
				}
				fmt.Fprintf(out, "problem: entry %d: %s %s\n", p.Index, p.Reason, p.Detail)
			}
			return &exitError{code: 1, msg: fmt.Sprintf("audit trail FAILED verification: first bad entry %d (%s)", r.First.Index, r.First.Reason)}
		},
	}
	cmd.Flags().StringVar(&config, "config", "", "relay configuration (YAML)")
	cmd.MarkFlagRequired("config")
	return cmd
}

// auditExportOptions are the flags of `dicomgate audit export`.
type auditExportOptions struct {
	config, format, out           string
	since, until                  string
	actor, action, project, study string
}

func newAuditExportCommand(g *globalOptions) *cobra.Command {
	var o auditExportOptions
	cmd := &cobra.Command{
		Use:   "export --config relay.yaml --format csv|json|pdf [filters] [--out FILE]",
		Short: "Export the audit trail (verified, checkpointed, itself audited)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			format, err := audit.ParseFormat(o.format)
			if err != nil {
				return err
			}
			var f audit.Filter
			if f.Since, err = parseTime(o.since); err != nil {
				return fmt.Errorf("--since: %w", err)
			}
			if f.Until, err = parseTime(o.until); err != nil {
				return fmt.Errorf("--until: %w", err)
			}
			f.Actor, f.Action, f.Project, f.Study = o.actor, audit.Action(o.action), o.project, o.study
			if o.action != "" && !f.Action.Valid() {
				return fmt.Errorf("--action %q: unknown action", o.action)
			}
			trail, err := openTrail(cmd, g, o.config)
			if err != nil {
				return err
			}
			defer trail.Close()
			var w io.Writer = cmd.OutOrStdout()
			var file *os.File
			if o.out != "" && o.out != "-" {
				if file, err = os.OpenFile(o.out, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600); err != nil {
					return err
				}
				w = file
			}
			res, err := trail.Log.Export(cmd.Context(), w, format, f, audit.Event{Actor: cliActor()})
			if file != nil {
				if cerr := file.Close(); err == nil {
					err = cerr
				}
			}
			if res != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "exported %d entries as %s; checkpoint size %d; verification ok=%v\n",
					res.Entries, res.Format, checkpointSize(res.Checkpoint), res.Verification != nil && res.Verification.OK)
			}
			return err
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.config, "config", "", "relay configuration (YAML)")
	fl.StringVar(&o.format, "format", "csv", "csv, json or pdf")
	fl.StringVar(&o.out, "out", "", "write to this file (default: standard output)")
	fl.StringVar(&o.since, "since", "", "only events at or after this time (RFC 3339 or YYYY-MM-DD, UTC)")
	fl.StringVar(&o.until, "until", "", "only events before this time (RFC 3339 or YYYY-MM-DD, UTC)")
	fl.StringVar(&o.actor, "actor", "", "only events by this actor")
	fl.StringVar(&o.action, "action", "", "only events of this action (e.g. login.failure, file.committed)")
	fl.StringVar(&o.project, "project", "", "only events of this project")
	fl.StringVar(&o.study, "study", "", "only events of this (pseudonymous) study UID")
	cmd.MarkFlagRequired("config")
	return cmd
}

func checkpointSize(c *audit.Checkpoint) int64 {
	if c == nil {
		return 0
	}
	return c.Size
}

func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	return time.Parse("2006-01-02", s)
}
