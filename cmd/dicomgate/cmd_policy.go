package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
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
	png          string
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
	f.StringVar(&o.png, "png", "", "write frame 1 with the pixel rule's regions outlined to this PNG (PHI: keep it at the site)")
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
	if o.png != "" {
		if err := writePolicyPNG(ctx, cmd, a, path, o.png); err != nil {
			return err
		}
	}
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

// writePolicyPNG renders frame 1 of path with the regions the policy's
// pixel rule would blank drawn as red outlines.
func writePolicyPNG(ctx context.Context, cmd *cobra.Command, a *anonymize.Anonymizer, path, out string) error {
	in, err := os.Open(path)
	if err != nil {
		return err
	}
	defer in.Close()
	pv, err := a.Preview(ctx, in)
	if err != nil {
		return fmt.Errorf("png: %w", err)
	}
	b := pv.Image.Bounds()
	img := image.NewRGBA(b)
	draw.Draw(img, b, pv.Image, b.Min, draw.Src)
	red := color.RGBA{R: 255, A: 255}
	for _, r := range pv.Regions {
		x1, y1 := min(r.X+r.W, b.Dx())-1, min(r.Y+r.H, b.Dy())-1
		for x := r.X; x <= x1; x++ {
			img.Set(x, r.Y, red)
			img.Set(x, y1, red)
		}
		for y := r.Y; y <= y1; y++ {
			img.Set(r.X, y, red)
			img.Set(x1, y, red)
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return err
	}
	if err := os.WriteFile(out, buf.Bytes(), 0o600); err != nil {
		return err
	}
	rule := pv.Rule
	if rule == "" {
		rule = "none (no region drawn)"
	}
	fmt.Fprintf(cmd.OutOrStdout(), "wrote %s: %dx%d, pixel rule %s, %d regions\n", out, b.Dx(), b.Dy(), rule, len(pv.Regions))
	return nil
}

func clip(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 60 {
		return s[:57] + "..."
	}
	return s
}
