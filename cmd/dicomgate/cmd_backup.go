package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"dicomgate/audit"
	"dicomgate/relay"
	"dicomgate/store"
)

// BackupOptions are the flags of `dicomgate backup`.
type BackupOptions struct {
	Config string
	Out    string
}

// AddFlags registers the flags on cmd.
func (o *BackupOptions) AddFlags(cmd *cobra.Command) {
	cmd.Flags().StringVar(&o.Config, "config", "", "relay configuration (YAML)")
	cmd.Flags().StringVar(&o.Out, "out", "", "backup file to write (must not exist)")
	cmd.MarkFlagRequired("config")
	cmd.MarkFlagRequired("out")
}

// RestoreOptions are the flags of `dicomgate restore`.
type RestoreOptions struct {
	Config string
	From   string
	Force  bool
}

// AddFlags registers the flags on cmd.
func (o *RestoreOptions) AddFlags(cmd *cobra.Command) {
	cmd.Flags().StringVar(&o.Config, "config", "", "relay configuration (YAML)")
	cmd.Flags().StringVar(&o.From, "from", "", "backup file written by dicomgate backup")
	cmd.Flags().BoolVar(&o.Force, "force", false, "overwrite a database that is not empty")
	cmd.MarkFlagRequired("config")
	cmd.MarkFlagRequired("from")
}

func newBackupCommand(g *globalOptions) *cobra.Command {
	var o BackupOptions
	cmd := &cobra.Command{
		Use:   "backup --config relay.yaml --out FILE",
		Short: "Back up the relay's metadata, accounts and audit log while it runs",
		Long: `Write a consistent copy of the relay's database (metadata, accounts and audit
log) to FILE while relays keep running: SQLite's VACUUM INTO, or pg_dump -Fc
for PostgreSQL. Sealed objects are not included: back up the object store
(bucket versioning or replication) on its own.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBackup(cmd.Context(), o, cmd.OutOrStdout())
		},
	}
	o.AddFlags(cmd)
	return cmd
}

func newRestoreCommand(g *globalOptions) *cobra.Command {
	var o RestoreOptions
	cmd := &cobra.Command{
		Use:   "restore --config relay.yaml --from FILE [--force]",
		Short: "Restore the relay's database from a backup, then verify the audit log",
		Long: `Replace the relay's database with the backup FILE, then verify the restored
audit log as 'dicomgate audit verify' does and print the result (exit 1 if it
fails). Stop every relay using the database first. A database that holds any
record is only overwritten with --force.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runRestore(cmd, g, o)
		},
	}
	o.AddFlags(cmd)
	return cmd
}

// runBackup backs up the database of the relay configured in o.Config.
func runBackup(ctx context.Context, o BackupOptions, out io.Writer) error {
	cfg, err := relay.Load(o.Config)
	if err != nil {
		return err
	}
	path, err := filepath.Abs(o.Out)
	if err != nil {
		return err
	}
	db, err := relay.OpenDatabase(ctx, cfg.Database)
	if err != nil {
		return err
	}
	defer db.Close()
	b, ok := db.(store.Backuper)
	if !ok {
		return fmt.Errorf("backup: database %s cannot be backed up", cfg.Database.Type)
	}
	start := time.Now()
	if err := b.Backup(ctx, path); err != nil {
		return err
	}
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "backed up %s database to %s (%d bytes, %s)\n", cfg.Database.Type, path, fi.Size(),
		time.Since(start).Round(time.Millisecond))
	return nil
}

// runRestore restores the database of the relay configured in o.Config and
// verifies the restored audit log.
func runRestore(cmd *cobra.Command, g *globalOptions, o RestoreOptions) error {
	ctx, out := cmd.Context(), cmd.OutOrStdout()
	cfg, err := relay.Load(o.Config)
	if err != nil {
		return err
	}
	if _, err := os.Stat(o.From); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	db, err := relay.OpenDatabase(ctx, cfg.Database)
	if err != nil {
		return err
	}
	empty, err := db.(store.Backuper).Empty(ctx)
	if err == nil && !empty && !o.Force {
		err = errors.New("restore: the database is not empty; stop the relays and add --force to overwrite it")
	}
	if err == nil {
		switch d := db.(type) {
		case *store.Postgres:
			err = d.Restore(ctx, o.From)
			db.Close()
		case *store.SQLite:
			db.Close() // the file is swapped underneath: close first
			err = store.RestoreSQLite(ctx, o.From, cfg.Database.Path)
		default:
			db.Close()
			err = fmt.Errorf("restore: database %s cannot be restored", cfg.Database.Type)
		}
	} else {
		db.Close()
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "restored %s database from %s\n", cfg.Database.Type, o.From)

	trail, err := relay.OpenAuditTrail(ctx, *cfg, g.logger(cmd.ErrOrStderr()))
	if err != nil {
		return err
	}
	defer trail.Close()
	r, err := trail.Log.Verify(ctx, trail.Verifiers)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "audit trail: %d entries, %d checkpoints, %d entries after the latest checkpoint\n",
		r.Size, r.Checkpoints, r.Unsealed)
	if !r.OK {
		return &exitError{code: 1, msg: fmt.Sprintf("restored audit trail FAILED verification: first bad entry %d (%s)",
			r.First.Index, r.First.Reason)}
	}
	ev := audit.Event{Actor: cliActor(), Action: audit.ActionVerify, Reason: "ok",
		Details: map[string]any{"entries": r.Size, "checkpoints": r.Checkpoints, "after": "restore"}}
	if _, err := trail.Log.Append(ctx, ev); err != nil {
		return err
	}
	fmt.Fprintln(out, "verified: no entry was edited, deleted, inserted or reordered")
	return nil
}
