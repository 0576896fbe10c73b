package main

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"dicomgate/agent"
)

// agentOptions are the flags of `dicomgate agent`.
type agentOptions struct {
	config string
	// clockOffset runs the agent's clock this far off the machine's
	// (hidden; the clock-skew tests use it: Go reads the clock through
	// the vDSO, so faketime cannot).
	clockOffset time.Duration
}

func newAgentCommand(g *globalOptions) *cobra.Command {
	var o agentOptions
	cmd := &cobra.Command{
		Use:   "agent --config agent.yaml",
		Short: "Run the site agent: watch folders, anonymise, seal and upload",
		Long: `Run the site agent until SIGTERM or Ctrl-C: files found in the watched
folders are queued, anonymised with the policy, sealed to the project's
recipients and uploaded to the relay. The queue survives restarts: a stopped
agent resumes each file where it stopped.

The agent must be enrolled first: dicomgate agent enroll --relay ADDR --token T.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runAgent(cmd, g, o)
		},
	}
	cmd.Flags().StringVar(&o.config, "config", "", "agent configuration (YAML); default: built-in demo settings")
	cmd.Flags().DurationVar(&o.clockOffset, "clock-offset", 0, "testing only: run the agent's clock this far off the system clock")
	cmd.Flags().MarkHidden("clock-offset")
	cmd.AddCommand(newAgentEnrollCommand(g))
	return cmd
}

// agentLogger builds the command's logger; the config's log_level applies
// unless --log-level was given.
func agentLogger(cmd *cobra.Command, g *globalOptions, cfg *agent.Config, fallback zerolog.Level) zerolog.Logger {
	log := g.logger(cmd.ErrOrStderr())
	if f := cmd.Flag("log-level"); f != nil && f.Changed {
		return log
	}
	if cfg != nil && cfg.LogLevel != "" {
		return log.Level(cfg.Level())
	}
	return log.Level(fallback)
}

func runAgent(cmd *cobra.Command, g *globalOptions, o agentOptions) error {
	tuneServiceGC()
	cfg, err := agent.Load(o.config)
	if err != nil {
		return err
	}
	log := agentLogger(cmd, g, cfg, zerolog.InfoLevel)
	var opts []agent.Option
	if off := o.clockOffset; off != 0 {
		log.Warn().Dur("clock_offset", off).Msg("agent clock offset from the system clock (testing only)")
		opts = append(opts, agent.WithClock(func() time.Time { return time.Now().Add(off) }))
	}
	a, err := agent.New(cfg, log, opts...)
	if err != nil {
		return err
	}
	return a.Run(cmd.Context())
}

// enrollOptions are the flags of `dicomgate agent enroll`.
type enrollOptions struct {
	relay       string
	token       string
	config      string
	identityDir string
	name        string
	force       bool
	wireGuard   bool
}

func newAgentEnrollCommand(g *globalOptions) *cobra.Command {
	var o enrollOptions
	cmd := &cobra.Command{
		Use:   "enroll --relay ADDR --token T [--config agent.yaml | --identity-dir DIR] [--name N]",
		Short: "Enrol this agent with a relay using a single-use token",
		Long: `Enrol this agent with a relay: a new Ed25519 key is generated, the relay's CA
(pinned by the token) certifies it, and the key, certificate and CA are
written to the identity folder (identity_dir of --config, or --identity-dir).
The same key authenticates the agent and signs its manifests.

With a wireguard: section in --config (or --wireguard), the agent's WireGuard
public key is registered too (private_key_file of the section, or wg.key in
the identity folder, created 0600 when missing): the relay allocates the
agent a tunnel address and adds it as a peer, and its answer (relay key,
endpoint, addresses) goes to agent.json, so a wireguard section without
peers needs nothing more. Enrolment always runs on the host network, also
against a relay that takes uploads inside its tunnel only.

An existing identity is never replaced unless --force is given. Files the
agent sealed under the replaced key and has not sent yet are sealed again
from their sources at the next run.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runAgentEnroll(cmd, g, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.relay, "relay", "", "relay host:port (default: relay.address of --config)")
	f.StringVar(&o.token, "token", "", "enrolment token from the relay admin; required")
	f.StringVar(&o.config, "config", "", "agent configuration (YAML) naming the identity folder")
	f.StringVar(&o.identityDir, "identity-dir", "", "identity folder (instead of --config)")
	f.StringVar(&o.name, "name", "", "agent name to ask for (default: site of --config, or the host name)")
	f.BoolVar(&o.force, "force", false, "replace an existing identity")
	f.BoolVar(&o.wireGuard, "wireguard", false, "also register a WireGuard key (implied by a wireguard section in --config)")
	cmd.MarkFlagRequired("token")
	cmd.MarkFlagsMutuallyExclusive("config", "identity-dir")
	return cmd
}

func runAgentEnroll(cmd *cobra.Command, g *globalOptions, o enrollOptions) error {
	dir, relay, name := o.identityDir, o.relay, o.name
	wireGuard, wgKeyFile := o.wireGuard, ""
	if dir == "" {
		cfg, err := agent.Load(o.config)
		if err != nil {
			return err
		}
		dir = cfg.IdentityDir
		if cfg.WireGuard != nil {
			wireGuard, wgKeyFile = true, cfg.WireGuard.PrivateKeyFile
		}
		if relay == "" {
			relay = cfg.Relay.Address
		}
		if name == "" {
			name = cfg.Site
		}
	}
	if relay == "" {
		return errors.New("agent enroll: --relay is required without --config")
	}
	if name == "" {
		h, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("agent enroll: --name is required: %w", err)
		}
		name = h
	}
	var id *agent.Identity
	var err error
	if wireGuard {
		id, err = agent.EnrollWireGuard(cmd.Context(), dir, relay, o.token, name, o.force, wgKeyFile)
	} else {
		id, err = agent.Enroll(cmd.Context(), dir, relay, o.token, name, o.force)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "enrolled as %s with relay %s (CA sha256 %s); identity in %s\n",
		id.AgentID, relay, short(id.CAFingerprint), dir)
	if g := id.WireGuard; g != nil {
		fmt.Fprintf(cmd.OutOrStdout(), "wireguard: tunnel address %s, relay %s inside the tunnel, endpoint %s\n",
			g.Address, g.RelayAddress, g.Endpoint)
	}
	return nil
}
