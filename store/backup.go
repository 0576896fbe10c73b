package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// Backups of the metadata database (metadata, accounts and audit log
// alike: everything is in one database).
//
// SQLite: [SQLite.Backup] writes a consistent copy with VACUUM INTO while
// relays keep running; [RestoreSQLite] puts such a copy in place of a
// database that no process has open. PostgreSQL: [Postgres.Backup] runs
// pg_dump -Fc and [Postgres.Restore] pg_restore (both from Debian's
// postgresql-client, found on $PATH or under /usr/lib/postgresql/*/bin).
// The password of the DSN is passed in PGPASSWORD, never on a command
// line.

// Backuper is implemented by metadata databases that can back themselves
// up online ([SQLite], [Postgres]).
type Backuper interface {
	// Backup writes a consistent copy of the whole database to path,
	// which must not exist.
	Backup(ctx context.Context, path string) error
	// Empty reports whether no table of the database holds a row (schema
	// bookkeeping aside): nothing a restore would overwrite.
	Empty(ctx context.Context) (bool, error)
}

var (
	_ Backuper = (*SQLite)(nil)
	_ Backuper = (*Postgres)(nil)
)

// Backup implements [Backuper] with VACUUM INTO: one read transaction,
// so writers go on and the copy is the state at its start.
func (s *SQLite) Backup(ctx context.Context, path string) error {
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("store: sqlite: backup: %s exists", path)
	}
	if _, err := s.db.ExecContext(ctx, `VACUUM INTO ?`, path); err != nil {
		return fmt.Errorf("store: sqlite: backup: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		return fmt.Errorf("store: sqlite: backup: %w", err)
	}
	return nil
}

// Empty implements [Backuper].
func (s *SQLite) Empty(ctx context.Context) (bool, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name FROM sqlite_master
		WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '%schema_migrations'`)
	if err != nil {
		return false, fmt.Errorf("store: sqlite: empty: %w", err)
	}
	var tables []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			rows.Close()
			return false, fmt.Errorf("store: sqlite: empty: %w", err)
		}
		tables = append(tables, t)
	}
	rows.Close()
	for _, t := range tables {
		var any int
		err := s.db.QueryRowContext(ctx, `SELECT 1 FROM "`+strings.ReplaceAll(t, `"`, `""`)+`" LIMIT 1`).Scan(&any)
		if err == nil {
			return false, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return false, fmt.Errorf("store: sqlite: empty: %w", err)
		}
	}
	return true, nil
}

// RestoreSQLite replaces the SQLite database at path with the backup
// from, which must be a SQLite database passing an integrity check. No
// process may have path open (stop the relays first). The swap is atomic:
// a copy next to path, fsync, rename; stale WAL and shared-memory files of
// the old database are removed first.
func RestoreSQLite(ctx context.Context, from, path string) error {
	src, err := sql.Open("sqlite", "file:"+from+"?mode=ro")
	if err != nil {
		return fmt.Errorf("store: sqlite: restore: %w", err)
	}
	var check string
	err = src.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&check)
	src.Close()
	if err != nil || check != "ok" {
		return fmt.Errorf("store: sqlite: restore: %s is not a sound SQLite database (%v %s)", from, err, check)
	}
	data, err := os.ReadFile(from)
	if err != nil {
		return fmt.Errorf("store: sqlite: restore: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("store: sqlite: restore: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".restore-*")
	if err != nil {
		return fmt.Errorf("store: sqlite: restore: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("store: sqlite: restore: %w", err)
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		if err := os.Remove(path + suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("store: sqlite: restore: %w", err)
		}
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("store: sqlite: restore: %w", err)
	}
	return nil
}

// Backup implements [Backuper] with pg_dump -Fc (one snapshot; relays go
// on writing).
func (p *Postgres) Backup(ctx context.Context, path string) error {
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("store: postgres: backup: %s exists", path)
	}
	if err := p.runPGTool(ctx, "pg_dump", "--format=custom", "--no-owner", "--file="+path); err != nil {
		return fmt.Errorf("store: postgres: backup: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		return fmt.Errorf("store: postgres: backup: %w", err)
	}
	return nil
}

// Restore loads a pg_dump -Fc backup into p's database in one
// transaction, dropping the tables it holds first. Stop the relays first.
func (p *Postgres) Restore(ctx context.Context, from string) error {
	if err := p.runPGTool(ctx, "pg_restore", "--clean", "--if-exists", "--no-owner",
		"--single-transaction", "--exit-on-error", from); err != nil {
		return fmt.Errorf("store: postgres: restore: %w", err)
	}
	return nil
}

// Empty implements [Backuper].
func (p *Postgres) Empty(ctx context.Context) (bool, error) {
	rows, err := p.pool.Query(ctx, `SELECT quote_ident(table_name) FROM information_schema.tables
		WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'
		AND table_name NOT LIKE '%schema_migrations'`)
	if err != nil {
		return false, fmt.Errorf("store: postgres: empty: %w", err)
	}
	var tables []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			rows.Close()
			return false, fmt.Errorf("store: postgres: empty: %w", err)
		}
		tables = append(tables, t)
	}
	rows.Close()
	for _, t := range tables {
		var exists bool
		if err := p.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+t+`)`).Scan(&exists); err != nil {
			return false, fmt.Errorf("store: postgres: empty: %w", err)
		}
		if exists {
			return false, nil
		}
	}
	return true, nil
}

// pgPasswordRE finds a password in a key=value DSN.
var pgPasswordRE = regexp.MustCompile(`(^|\s)password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)`)

// runPGTool runs a PostgreSQL client tool against p's database, with the
// DSN's password in PGPASSWORD rather than on the command line.
func (p *Postgres) runPGTool(ctx context.Context, tool string, args ...string) error {
	bin, err := findPGTool(tool)
	if err != nil {
		return err
	}
	dsn := p.pool.Config().ConnString()
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		return errors.New("invalid dsn")
	}
	if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		if u.User != nil {
			u.User = url.User(u.User.Username())
		}
		dsn = u.String()
	} else {
		dsn = pgPasswordRE.ReplaceAllString(dsn, "$1")
	}
	cmd := exec.CommandContext(ctx, bin, append([]string{"--dbname=" + dsn}, args...)...)
	cmd.Env = append(os.Environ(), "PGPASSWORD="+cfg.Password)
	out, err := cmd.CombinedOutput()
	if err != nil {
		msg := strings.TrimSpace(string(out))
		if cfg.Password != "" {
			msg = strings.ReplaceAll(msg, cfg.Password, redacted)
		}
		return fmt.Errorf("%s: %w: %s", tool, err, msg)
	}
	return nil
}

// findPGTool finds a PostgreSQL client binary on $PATH, else in the
// newest /usr/lib/postgresql/*/bin.
func findPGTool(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[i])))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[j])))
		return vi > vj
	})
	for _, d := range dirs {
		if p := filepath.Join(d, name); isExec(p) {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found (apt-get install postgresql-client)", name)
}

// isExec reports whether p is a regular file with an execute bit.
func isExec(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}
