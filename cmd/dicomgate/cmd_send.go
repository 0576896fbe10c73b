package main

import (
	"fmt"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"dicomgate/agent"
	"dicomgate/internal/progress"
)

// sendOptions are the flags of `dicomgate send`.
type sendOptions struct {
	config string
}

func newSendCommand(g *globalOptions) *cobra.Command {
	var o sendOptions
	cmd := &cobra.Command{
		Use:   "send --config agent.yaml PATH...",
		Short: "Send files or folders once through the agent's pipeline",
		Long: `Queue the given files (folders recursively) in the agent's queue, then
anonymise, seal and upload them until nothing is pending, and print a
summary. Files already queued are not sent twice. While the relay is
unreachable, files wait; Ctrl-C stops and leaves them queued for the next
run of the agent or of send.

send uses the agent's queue, so it cannot run while the agent service runs:
copy the files into one of its watched folders instead. The exit status is 3
when any file was quarantined (see quarantine_dir for the reasons).`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSend(cmd, g, o, args)
		},
	}
	cmd.Flags().StringVar(&o.config, "config", "", "agent configuration (YAML); default: built-in demo settings")
	return cmd
}

func runSend(cmd *cobra.Command, g *globalOptions, o sendOptions, paths []string) error {
	cfg, err := agent.Load(o.config)
	if err != nil {
		return err
	}
	// The progress line replaces per-file info logs.
	log := agentLogger(cmd, g, nil, zerolog.WarnLevel)
	a, err := agent.New(cfg, log)
	if err != nil {
		return err
	}
	stderr := cmd.ErrOrStderr()
	pr := progress.New(stderr, isTerminal(stderr))
	res, err := a.Send(cmd.Context(), paths, func(p agent.SendProgress) {
		extra := ""
		if p.Quarantined > 0 {
			extra = fmt.Sprintf("%d quarantined", p.Quarantined)
		}
		pr.Update(p.Committed+p.Quarantined, p.Total, 0, p.Elapsed, extra)
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "sent in %s: %d newly queued, %d committed, %d quarantined\n",
		res.Elapsed.Round(time.Millisecond), res.Queued, res.Committed, res.Quarantined)
	if res.Quarantined > 0 {
		fmt.Fprintf(cmd.OutOrStdout(), "quarantined files and their reasons are in %s\n", cfg.QuarantineDir)
		return &exitError{code: 3}
	}
	return nil
}
