package main

import (
	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"dicomgate/relay"
)

// openRelayAdmin opens the relay of config for an administrative command
// (token, user, relay agents|revoke): its database and stores, no
// listener, the relay's own start-up messages left out. The relay may be
// running. Close the server when done.
func openRelayAdmin(cmd *cobra.Command, g *globalOptions, config string) (*relay.Server, *relay.Config, error) {
	cfg, err := relay.Load(config)
	if err != nil {
		return nil, nil, err
	}
	srv, err := relay.New(*cfg, g.logger(cmd.ErrOrStderr()).Level(zerolog.WarnLevel))
	if err != nil {
		return nil, nil, err
	}
	if err := srv.Open(cmd.Context()); err != nil {
		return nil, nil, err
	}
	return srv, cfg, nil
}
