package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"dicomgate/relay"
)

// tokenCreateOptions are the flags of `dicomgate token create`.
type tokenCreateOptions struct {
	config  string
	project string
	site    string
}

// tokenReaderOptions are the flags of `dicomgate token reader`.
type tokenReaderOptions struct {
	name     string
	projects []string
}

func newTokenCommand(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Create enrolment tokens for agents and API tokens for core labs",
	}
	cmd.AddCommand(newTokenCreateCommand(g), newTokenReaderCommand())
	return cmd
}

func newTokenCreateCommand(g *globalOptions) *cobra.Command {
	var o tokenCreateOptions
	cmd := &cobra.Command{
		Use:   "create --config relay.yaml --project P --site S",
		Short: "Create a single-use enrolment token for a site's agent",
		Long: `Create a single-use, expiring enrolment token (enrolment_token_ttl) for an
agent of site S in project P, and print it. Give it to the site operator for
dicomgate agent enroll; the relay stores only its hash. The relay may be
running: the token goes straight into its database.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			srv, cfg, err := openRelayAdmin(cmd, g, o.config)
			if err != nil {
				return err
			}
			defer srv.Close()
			tok, err := srv.CreateEnrolmentToken(cmd.Context(), o.project, o.site)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), tok)
			fmt.Fprintf(cmd.ErrOrStderr(), "single-use enrolment token for project %s, site %s, valid %s\n", o.project, o.site, cfg.EnrolmentTokenTTL)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.config, "config", "", "relay configuration file (default: embedded defaults in ./data)")
	f.StringVar(&o.project, "project", "", "project the agent sends to; required")
	f.StringVar(&o.site, "site", "", "site the agent represents; required")
	cmd.MarkFlagRequired("project")
	cmd.MarkFlagRequired("site")
	return cmd
}

func newTokenReaderCommand() *cobra.Command {
	var o tokenReaderOptions
	cmd := &cobra.Command{
		Use:   "reader --name NAME [--project P]...",
		Short: "Create an API token for a core lab",
		Long: `Create a bearer token for a core lab's dicomgate fetch. The token is printed
once on standard output; the readers entry for relay.yaml (holding only the
token's hash) goes to standard error.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			tok, hash, err := relay.NewReaderToken()
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), tok)
			fmt.Fprintf(cmd.ErrOrStderr(), "add to relay.yaml:\nreaders:\n  - name: %s\n    token_hash: %s\n    projects: %q\n", o.name, hash, o.projects)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.name, "name", "", "reader name, e.g. the core lab; required")
	f.StringSliceVar(&o.projects, "project", []string{"*"}, "projects the reader may download (repeatable; * for all)")
	cmd.MarkFlagRequired("name")
	return cmd
}
