package main

import (
	"fmt"
	"os"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"dicomgate/internal/demo"
)

// demoOptions are the flags of `dicomgate demo`.
type demoOptions struct {
	workdir  string
	keep     bool
	patients int
	slices   int
	verbose  bool
}

func newDemoCommand(g *globalOptions) *cobra.Command {
	var o demoOptions
	cmd := &cobra.Command{
		Use:   "demo [--workdir DIR] [--keep]",
		Short: "Run relay, agent and core lab on this machine with generated studies",
		Long: `Run the whole product on embedded defaults: a relay (SQLite, filesystem store,
its own CA) and a site agent in one process. Synthetic studies with planted
identifiers are dropped into the agent's watched folder, anonymised, sealed,
sent, verified and stored; a core lab then fetches, verifies and decrypts them.
The demo checks that the fetched files equal a local 'dicomgate anonymize' of
the inputs and that the relay holds no readable DICOM and no identifier.

--workdir keeps everything in DIR (DIR/relay.yaml, DIR/agent.yaml, stores,
databases, spool) so the other commands can be pointed at it; --keep leaves
relay and agent running and prints the watched folder.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log := g.logger(os.Stderr)
			if !o.verbose {
				log = log.Level(zerolog.WarnLevel)
			}
			res, err := demo.Run(cmd.Context(), demo.Options{
				WorkDir: o.workdir, Keep: o.keep, Patients: o.patients, Slices: o.slices,
				Out: cmd.OutOrStdout(), Logger: log,
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "\ndemo ok: %d files in, %d committed in %d studies, %d quarantined by policy, %d fetched and verified\n",
				res.Inputs, res.Committed, res.Studies, res.Quarantined, res.Fetched)
			if o.workdir != "" {
				fmt.Fprintf(cmd.OutOrStdout(), "everything is in %s (relay.yaml, agent.yaml, corelab.key)\n", res.WorkDir)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.workdir, "workdir", "", "keep everything in this folder (default: a temporary folder, removed)")
	f.BoolVar(&o.keep, "keep", false, "leave relay and agent running after the checks")
	f.IntVar(&o.patients, "patients", 3, "synthetic patients to generate")
	f.IntVar(&o.slices, "slices", 12, "CT slices per patient")
	f.BoolVar(&o.verbose, "verbose", false, "show the relay's and agent's info logs")
	return cmd
}
