package main

import (
	"io"
	"os"
	"strings"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// globalOptions are the flags every command has.
type globalOptions struct {
	logLevel   string
	logFormat  string
	cpuProfile string
}

func newRootCommand() *cobra.Command {
	var g globalOptions
	root := &cobra.Command{
		Use:           "dicomgate",
		Short:         "Anonymise, seal and move DICOM studies from sites to core labs",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&g.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	root.PersistentFlags().StringVar(&g.logFormat, "log-format", "auto", "log format: auto, console, json")
	root.PersistentFlags().StringVar(&g.cpuProfile, "cpuprofile", "", "write a Go CPU profile of the command to this file")
	_ = root.PersistentFlags().MarkHidden("cpuprofile")
	var stopProfile func()
	root.PersistentPreRunE = func(*cobra.Command, []string) error {
		stop, err := startCPUProfile(g.cpuProfile)
		stopProfile = stop
		return err
	}
	root.PersistentPostRun = func(*cobra.Command, []string) {
		if stopProfile != nil {
			stopProfile()
		}
	}
	root.AddCommand(
		newAnonymizeCommand(&g),
		newPolicyCommand(&g),
		newKeygenCommand(),
		newWGCommand(),
		newRelayCommand(&g),
		newTokenCommand(&g),
		newFetchCommand(&g),
		newDemoCommand(&g),
		newAgentCommand(&g),
		newSendCommand(&g),
		newAuditCommand(&g),
		newUserCommand(&g),
		newBackupCommand(&g),
		newRestoreCommand(&g),
		newVersionCommand(),
	)
	return root
}

// logger builds the logger for a command: console output on a terminal,
// JSON otherwise (for journald and log shippers).
func (g *globalOptions) logger(w io.Writer) zerolog.Logger {
	level, err := zerolog.ParseLevel(strings.ToLower(g.logLevel))
	if err != nil || g.logLevel == "" {
		level = zerolog.InfoLevel
	}
	console := g.logFormat == "console" || (g.logFormat == "auto" && isTerminal(w))
	if console {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: "15:04:05"}
	}
	return zerolog.New(w).Level(level).With().Timestamp().Logger()
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
