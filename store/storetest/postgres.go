package storetest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// PostgresBinEnv names the environment variable that may hold the folder
// of PostgreSQL's server binaries (initdb, pg_ctl).
const PostgresBinEnv = "DICOMGATE_PG_BIN"

// pgTestUser is the superuser of the servers StartPostgres runs. Its
// password is random per server; the server listens on 127.0.0.1 and a
// private Unix socket only, and lives for one test.
const pgTestUser = "dicomgate"

// pgStartTimeout bounds how long StartPostgres waits for the server.
const pgStartTimeout = 60 * time.Second

// PostgresServer is a throwaway PostgreSQL server run by [StartPostgres].
type PostgresServer struct {
	// Addr is the server's 127.0.0.1:port.
	Addr string
	// User and Password are the superuser's credentials.
	User, Password string
	// BinDir holds the server binaries (pg_dump sits beside them).
	BinDir string

	dbs atomic.Int64
}

// DSN returns the URL of database on the server.
func (s *PostgresServer) DSN(database string) string {
	u := url.URL{Scheme: "postgres", User: url.UserPassword(s.User, s.Password), Host: s.Addr,
		Path: "/" + database, RawQuery: "sslmode=disable"}
	return u.String()
}

// NewDatabase creates a new, empty database on the server and returns its
// DSN. Tests running in parallel each take their own.
func (s *PostgresServer) NewDatabase(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("test_%d", s.dbs.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.DSN("postgres"))
	if err != nil {
		t.Fatalf("storetest: postgres: connect: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("storetest: postgres: create database: %v", err)
	}
	return s.DSN(name)
}

// PostgresOptions tune the server [StartPostgresWith] runs. The zero
// value is what [StartPostgres] uses.
type PostgresOptions struct {
	// Durable keeps fsync, synchronous_commit and full_page_writes on, as
	// in production (benchmarks for sizing). Default off: tests need speed.
	Durable bool
}

// StartPostgres initialises a PostgreSQL cluster in a temporary folder
// (initdb from Debian's packages: /usr/lib/postgresql/*/bin, or
// $DICOMGATE_PG_BIN), starts it on 127.0.0.1 at a free port with fsync off
// (tests need speed, not durability) and stops it when the test ends. Run
// as root, the server runs as the "postgres" user (else "nobody"), since
// PostgreSQL refuses to run as root.
//
// Without the binaries (apt-get install postgresql) the test is skipped,
// or fails when CI=true or DICOMGATE_REQUIRE_PG=1.
func StartPostgres(t testing.TB) *PostgresServer {
	t.Helper()
	return StartPostgresWith(t, PostgresOptions{})
}

// StartPostgresWith is [StartPostgres] with options.
func StartPostgresWith(t testing.TB, o PostgresOptions) *PostgresServer {
	t.Helper()
	bin := findPostgresBin()
	if bin == "" {
		msg := "postgresql server binaries not found (set " + PostgresBinEnv + ", or apt-get install postgresql)"
		if requirePG() {
			t.Fatal("storetest: " + msg + "; PostgreSQL tests are required here")
		}
		t.Skip("storetest: " + msg)
	}
	root, err := os.MkdirTemp("", "dicomgate-pg-")
	if err != nil {
		t.Fatalf("storetest: postgres: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	run, err := pgRunner(root)
	if err != nil {
		t.Fatalf("storetest: postgres: %v", err)
	}
	password := strconv.FormatInt(time.Now().UnixNano(), 36) + strconv.Itoa(os.Getpid())
	pwfile := filepath.Join(root, "pwfile")
	if err := os.WriteFile(pwfile, []byte(password+"\n"), 0o600); err != nil {
		t.Fatalf("storetest: postgres: %v", err)
	}
	if err := run.chown(pwfile); err != nil {
		t.Fatalf("storetest: postgres: %v", err)
	}
	data := filepath.Join(root, "data")
	if out, err := run.command(filepath.Join(bin, "initdb"), "-D", data, "-U", pgTestUser,
		"--pwfile", pwfile, "--auth-local", "trust", "--auth-host", "scram-sha-256",
		"-E", "UTF8", "--locale", "C", "--no-sync").CombinedOutput(); err != nil {
		t.Fatalf("storetest: postgres: initdb: %v\n%s", err, out)
	}
	os.Remove(pwfile)

	var lastErr error
	for range 3 { // a free port can be taken between probing and binding
		addr, err := freeAddr()
		if err != nil {
			t.Fatalf("storetest: %v", err)
		}
		_, port, _ := net.SplitHostPort(addr)
		flags := []string{"-c listen_addresses=127.0.0.1", "-p " + port, "-k " + root, "-c max_connections=300"}
		if !o.Durable {
			flags = append(flags, "-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off")
		}
		opts := strings.Join(flags, " ")
		cmd := run.command(filepath.Join(bin, "pg_ctl"), "-D", data, "-l", filepath.Join(root, "log"),
			"-w", "-t", strconv.Itoa(int(pgStartTimeout.Seconds())), "-o", opts, "start")
		out, err := cmd.CombinedOutput()
		if err != nil {
			log, _ := os.ReadFile(filepath.Join(root, "log"))
			lastErr = fmt.Errorf("pg_ctl start: %v\n%s\n%s", err, out, log)
			continue
		}
		t.Cleanup(func() {
			run.command(filepath.Join(bin, "pg_ctl"), "-D", data, "-m", "immediate", "-w", "stop").Run()
		})
		return &PostgresServer{Addr: addr, User: pgTestUser, Password: password, BinDir: bin}
	}
	t.Fatalf("storetest: postgres: %v", lastErr)
	return nil
}

// requirePG reports whether missing PostgreSQL binaries must fail the
// test.
func requirePG() bool {
	return os.Getenv("CI") == "true" || os.Getenv("DICOMGATE_REQUIRE_PG") == "1"
}

// findPostgresBin returns the folder holding initdb and pg_ctl, or "".
func findPostgresBin() string {
	has := func(dir string) bool {
		return isExecutable(filepath.Join(dir, "initdb")) && isExecutable(filepath.Join(dir, "pg_ctl"))
	}
	if d := os.Getenv(PostgresBinEnv); d != "" {
		if has(d) {
			return d
		}
		return ""
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { // newest major version first
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[i])))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[j])))
		return vi > vj
	})
	for _, d := range dirs {
		if has(d) {
			return d
		}
	}
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		if p, err = filepath.EvalSymlinks(p); err == nil && has(filepath.Dir(p)) {
			return filepath.Dir(p)
		}
	}
	return ""
}

// pgRunner says how to run the server binaries: as ourselves, or, as
// root, as an unprivileged user owning root.
func pgRunner(root string) (*runner, error) {
	if os.Geteuid() != 0 {
		return &runner{dir: root}, nil
	}
	var u *user.User
	var err error
	for _, name := range []string{"postgres", "nobody"} {
		if u, err = user.Lookup(name); err == nil {
			break
		}
	}
	if err != nil {
		return nil, errors.New("running as root and no postgres or nobody user to run the server as")
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	r := &runner{dir: root, uid: uid, gid: gid, drop: true}
	if err := r.chown(root); err != nil {
		return nil, err
	}
	return r, nil
}

// runner runs commands in dir, as uid:gid when drop is set.
type runner struct {
	dir      string
	uid, gid int
	drop     bool
}

// chown gives path to the runner's user.
func (r *runner) chown(path string) error {
	if !r.drop {
		return nil
	}
	return os.Chown(path, r.uid, r.gid)
}

// command returns the command, set up to run in r.dir as r's user.
func (r *runner) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Dir = r.dir
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	if r.drop {
		setCredential(cmd, r.uid, r.gid)
	}
	return cmd
}
