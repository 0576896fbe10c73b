package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"dicomgate/relay"
	"dicomgate/store"
)

// userOptions are the flags of `dicomgate user`.
type userOptions struct {
	config   string
	fullName string
	roles    []string
	revoke   bool
}

func newUserCommand(g *globalOptions) *cobra.Command {
	var o userOptions
	cmd := &cobra.Command{
		Use:   "user add|disable|enable|reset-password|unlock|grant|list",
		Short: "Manage relay accounts (the first admin, scripts)",
		Long: `Manage the relay's user accounts directly in its database (the relay may be
running). Every change is recorded in the audit trail with actor "cli".

  dicomgate user add LOGIN --name "Full Name" --role admin@*   (prints a temporary password once)
  dicomgate user grant LOGIN --role corelab_reader@trial-1 [--revoke]
  dicomgate user disable|enable|unlock LOGIN
  dicomgate user reset-password LOGIN                           (prints a temporary password once)
  dicomgate user list

Roles: admin, site_operator, corelab_reader, auditor; ROLE@PROJECT, with
project * for every project. Accounts are never deleted: disable them.`,
		Args:      cobra.RangeArgs(1, 2),
		ValidArgs: []string{"add", "disable", "enable", "reset-password", "unlock", "grant", "list"},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runUser(cmd, g, o, args)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.config, "config", "", "relay configuration file (default: embedded defaults in ./data)")
	f.StringVar(&o.fullName, "name", "", "full (printed) name of the person, for add")
	f.StringSliceVar(&o.roles, "role", nil, "ROLE@PROJECT to grant (repeatable), for add and grant")
	f.BoolVar(&o.revoke, "revoke", false, "revoke the --role grants instead, for grant")
	return cmd
}

// parseGrants parses ROLE@PROJECT flags.
func parseGrants(login string, roles []string) ([]store.Grant, error) {
	var out []store.Grant
	for _, r := range roles {
		role, project, ok := strings.Cut(r, "@")
		if !ok || role == "" || project == "" {
			return nil, fmt.Errorf("user: --role %q: want ROLE@PROJECT, e.g. admin@*", r)
		}
		out = append(out, store.Grant{Account: login, Project: project, Role: role})
	}
	return out, nil
}

func runUser(cmd *cobra.Command, g *globalOptions, o userOptions, args []string) error {
	ctx := cmd.Context()
	srv, _, err := openRelayAdmin(cmd, g, o.config)
	if err != nil {
		return err
	}
	defer srv.Close()
	op, out := args[0], cmd.OutOrStdout()
	if op == "list" {
		return listUsers(ctx, srv, cmd)
	}
	if len(args) != 2 {
		return fmt.Errorf("user %s: LOGIN is required", op)
	}
	login := args[1]
	const actor = "cli"
	switch op {
	case "add":
		grants, err := parseGrants(login, o.roles)
		if err != nil {
			return err
		}
		pw, err := srv.CreateAccount(ctx, actor, login, o.fullName, grants)
		if err != nil {
			return err
		}
		fmt.Fprintln(out, pw)
		fmt.Fprintf(cmd.ErrOrStderr(), "temporary password for %s (shown once; it must be changed at first sign-in)\n", login)
	case "reset-password":
		pw, err := srv.ResetPassword(ctx, actor, login)
		if err != nil {
			return err
		}
		fmt.Fprintln(out, pw)
		fmt.Fprintf(cmd.ErrOrStderr(), "temporary password for %s (shown once; it must be changed at next sign-in)\n", login)
	case "disable", "enable":
		return srv.SetAccountEnabled(ctx, actor, login, op == "enable")
	case "unlock":
		return srv.UnlockAccount(ctx, actor, login)
	case "grant":
		grants, err := parseGrants(login, o.roles)
		if err != nil {
			return err
		}
		if len(grants) == 0 {
			return fmt.Errorf("user grant: --role is required")
		}
		for _, gr := range grants {
			if err := srv.GrantRole(ctx, actor, gr, !o.revoke); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("user: unknown operation %q", op)
	}
	return nil
}

func listUsers(ctx context.Context, srv *relay.Server, cmd *cobra.Command) error {
	as, err := srv.ListAccounts(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "LOGIN\tNAME\tROLES\tSTATE\tTOTP")
	for _, a := range as {
		var roles, state []string
		for _, g := range a.Grants {
			roles = append(roles, g.Role+"@"+g.Project)
		}
		for _, c := range []struct {
			name string
			on   bool
		}{{"disabled", a.Disabled}, {"locked", a.Locked}, {"temporary-password", a.MustChange},
			{"password-expired", a.PasswordExpired}} {
			if c.on {
				state = append(state, c.name)
			}
		}
		if len(state) == 0 {
			state = []string{"active"}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%v\n", a.Name, a.FullName, strings.Join(roles, ","), strings.Join(state, ","), a.TOTP)
	}
	return tw.Flush()
}
