package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"dicomgate/seal"
)

func newKeygenCommand() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "keygen --out NAME",
		Short: "Create a core lab's key pair: NAME.key (secret) and NAME.pub",
		Long: `Create a new core-lab key pair: NAME.key (secret, mode 0600) opens the files
sealed to the project, NAME.pub (mode 0644) is the recipient to list in the
relay's and agents' project configuration. The public key is also printed.
Existing files are never overwritten.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := seal.WriteKeyPair(out)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "wrote %s%s (secret: keep it safe) and %s%s\n", out, seal.IdentityFileSuffix, out, seal.RecipientFileSuffix)
			fmt.Fprintln(cmd.OutOrStdout(), r.String())
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "file name prefix of the key pair; required")
	cmd.MarkFlagRequired("out")
	return cmd
}
