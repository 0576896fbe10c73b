package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

// relayAdminOptions are the flags of `dicomgate relay agents` and
// `dicomgate relay revoke`.
type relayAdminOptions struct {
	config  string
	project string
}

// newRelayAgentsCommand lists the enrolled agents of a relay.
func newRelayAgentsCommand(g *globalOptions) *cobra.Command {
	var o relayAdminOptions
	cmd := &cobra.Command{
		Use:   "agents [--config relay.yaml] [--project P]",
		Short: "List the agents enrolled with the relay (revoked ones included)",
		Long: `List the agents enrolled with the relay, from its database (the relay may be
running): agent ID, project, site, when it enrolled, and whether it is revoked.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			srv, _, err := openRelayAdmin(cmd, g, o.config)
			if err != nil {
				return err
			}
			defer srv.Close()
			list, err := srv.ListAgents(cmd.Context(), o.project)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "AGENT\tPROJECT\tSITE\tENROLLED\tSTATE")
			for _, a := range list {
				state := "active"
				if a.Revoked {
					state = "revoked " + a.RevokedAt.UTC().Format(time.RFC3339)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", a.ID, a.Project, a.Site, a.EnrolledAt.UTC().Format(time.RFC3339), state)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&o.config, "config", "", "relay configuration file (default: embedded defaults in ./data)")
	cmd.Flags().StringVar(&o.project, "project", "", "only the agents of this project")
	return cmd
}

// newRelayRevokeCommand revokes an agent.
func newRelayRevokeCommand(g *globalOptions) *cobra.Command {
	var o relayAdminOptions
	cmd := &cobra.Command{
		Use:   "revoke AGENT_ID [--config relay.yaml]",
		Short: "Revoke an agent: the relay refuses its handshakes and uploads from now on",
		Long: `Revoke an enrolled agent in the relay's database (the relay may be running:
it checks every handshake and upload against the database). Revocation is
final: the site enrols again with a new token. Recorded in the audit trail
(agent.revoke) with actor "cli". Find the ID with dicomgate relay agents.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			srv, _, err := openRelayAdmin(cmd, g, o.config)
			if err != nil {
				return err
			}
			defer srv.Close()
			if err := srv.RevokeAgentAs(cmd.Context(), "cli", "", args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "agent %s revoked\n", args[0])
			return nil
		},
	}
	cmd.Flags().StringVar(&o.config, "config", "", "relay configuration file (default: embedded defaults in ./data)")
	return cmd
}
