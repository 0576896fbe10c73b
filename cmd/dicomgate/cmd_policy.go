package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"dicomgate/anonymize"
	"dicomgate/policy"
)

func newPolicyCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Check and test anonymisation policies",
	}
	cmd.AddCommand(newPolicyCheckCommand(), newPolicyTestCommand())
	return cmd
}

func newPolicyCheckCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "check P.yaml...",
		Short: "Validate policy files; print every problem with its line",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			bad := 0
			for _, path := range args {
				pol, err := policy.Load(path)
				if err != nil {
					fmt.Fprintln(cmd.ErrOrStderr(), err)
					bad++
					continue
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s: ok: policy %s v%d, options [%s], sha256 %s\n",
					path, pol.ID(), pol.Version(), strings.Join(policy.OptionNames(pol.Options()), ", "), pol.Hash())
			}
			if bad > 0 {
				return &exitError{code: 1, msg: fmt.Sprintf("%d of %d policy files have problems", bad, len(args))}
			}
			return nil
		},
	}
}

// policyTestOptions are the flags of `dicomgate policy test`.
type policyTestOptions struct {
	policy       string
	secretFile   string
	showOriginal bool
	json         bool
}

func newPolicyTestCommand() *cobra.Command {
	var o policyTestOptions
	cmd := &cobra.Command{
		Use:   "test --policy P.yaml FILE",
		Short: "Show what a policy does to each attribute of a file",
		Long: `Run a policy on one file without writing anything and print, per attribute,
the action taken and the new value. Original values are masked unless
--show-original is given (they are PHI: do not paste them into tickets).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPolicyTest(cmd.Context(), cmd, o, args[0])
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.policy, "policy", "", "policy file (YAML); required")
	f.StringVar(&o.secretFile, "secret-file", "", "site secret file (default: the user config folder's)")
	f.BoolVar(&o.showOriginal, "show-original", false, "print original values (PHI)")
	f.BoolVar(&o.json, "json", false, "print the engine's report as JSON instead of the table")
	cmd.MarkFlagRequired("policy")
	return cmd
}

func runPolicyTest(ctx context.Context, cmd *cobra.Command, o policyTestOptions, path string) error {
	prof, _, err := loadProfile(cmd, o.policy, o.secretFile)
	if err != nil {
		return err
	}
	var traces []anonymize.Trace
	a, err := anonymize.New(prof, anonymize.WithTrace(func(t anonymize.Trace) { traces = append(traces, t) }))
	if err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	rep, aerr := a.Anonymize(ctx, f, io.Discard)
	out := cmd.OutOrStdout()
	if o.json && aerr == nil {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ATTRIBUTE\tTAG\tVR\tACTION\tORIGINAL\tNEW")
	for _, t := range traces {
		orig := t.Original
		if !o.showOriginal && orig != "" && !strings.HasPrefix(orig, "<") {
			orig = "***"
		}
		nv := t.New
		if t.Removed {
			nv = "(removed)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", t.Path, t.Tag, t.VR, t.Action, clip(orig), clip(nv))
	}
	tw.Flush()
	if aerr != nil {
		return &exitError{code: 3, msg: "file would be quarantined: " + aerr.Error()}
	}
	fmt.Fprintf(out, "\nresult: anonymised; %d attributes; actions %v\n", len(traces), rep.Actions)
	return nil
}

func clip(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 60 {
		return s[:57] + "..."
	}
	return s
}
