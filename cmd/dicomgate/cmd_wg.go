package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"dicomgate/transport"
)

func newWGCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "wg",
		Short: "WireGuard tunnel helpers",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newWGKeygenCommand())
	return cmd
}

// wgKeygenOptions are the flags of `dicomgate wg keygen`.
type wgKeygenOptions struct {
	out string
}

func newWGKeygenCommand() *cobra.Command {
	var o wgKeygenOptions
	cmd := &cobra.Command{
		Use:   "keygen [--out FILE]",
		Short: "Create a WireGuard key pair for the agent's or relay's tunnel",
		Long: `Create a WireGuard private key and print its public key (base64, as wg(8)
uses). With --out the private key goes to FILE (mode 0600, never overwritten;
name it in private_key_file of the wireguard: section) and only the public key
is printed; without it both are printed: "private_key: ..." then
"public_key: ...". Register the public key as a peer on the other side.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return runWGKeygen(cmd, o) },
	}
	cmd.Flags().StringVar(&o.out, "out", "", "write the private key to this file (0600) instead of printing it")
	return cmd
}

func runWGKeygen(cmd *cobra.Command, o wgKeygenOptions) error {
	priv, err := transport.GenerateWireGuardKey()
	if err != nil {
		return err
	}
	pub := priv.PublicKey()
	if o.out == "" {
		fmt.Fprintf(cmd.OutOrStdout(), "private_key: %s\npublic_key: %s\n", priv, pub)
		return nil
	}
	f, err := os.OpenFile(o.out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("wg keygen: %w", err)
	}
	if _, err := fmt.Fprintln(f, priv.String()); err != nil {
		f.Close()
		os.Remove(o.out)
		return fmt.Errorf("wg keygen: write %s: %w", o.out, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(o.out)
		return fmt.Errorf("wg keygen: write %s: %w", o.out, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("wg keygen: write %s: %w", o.out, err)
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "wrote %s (secret: keep it safe)\n", o.out)
	fmt.Fprintln(cmd.OutOrStdout(), pub.String())
	return nil
}
