package main

import (
	"github.com/spf13/cobra"

	"dicomgate/relay"
)

// relayOptions are the flags of `dicomgate relay`.
type relayOptions struct {
	config string
}

func newRelayCommand(g *globalOptions) *cobra.Command {
	var o relayOptions
	cmd := &cobra.Command{
		Use:   "relay [--config relay.yaml]",
		Short: "Run the relay: receive sealed files from agents, serve them to core labs",
		Long: `Run the relay until SIGTERM or Ctrl-C: the upload protocol for agents (QUIC and
TLS over TCP, mutual TLS) and the HTTPS API for core labs. Without --config it
runs the embedded defaults: everything under ./data, filesystem store, SQLite,
and a project "demo" that accepts any policy.

The relay CA fingerprint is logged at start-up: enrolment tokens carry it, and
core labs pin it with dicomgate fetch --ca-fingerprint.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRelay(cmd, g, o)
		},
	}
	cmd.Flags().StringVar(&o.config, "config", "", "relay configuration file (default: embedded defaults in ./data)")
	cmd.AddCommand(newRelayAgentsCommand(g), newRelayRevokeCommand(g))
	return cmd
}

func runRelay(cmd *cobra.Command, g *globalOptions, o relayOptions) error {
	tuneServiceGC()
	log := g.logger(cmd.ErrOrStderr())
	cfg, err := relay.Load(o.config)
	if err != nil {
		return err
	}
	srv, err := relay.New(*cfg, log, relay.WithVersion(version))
	if err != nil {
		return err
	}
	return srv.Run(cmd.Context())
}
