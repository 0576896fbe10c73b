package relay

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"dicomgate/store"
	"dicomgate/transport"
)

// Defaults of [Config] fields.
const (
	DefaultListen            = ":7443"
	DefaultAPIListen         = ":8443"
	DefaultDataDir           = "data"
	DefaultStoreType         = "fs"
	DefaultDatabaseType      = "sqlite"
	DefaultEnrolmentTokenTTL = 72 * time.Hour
	DefaultAgentCertValidity = 365 * 24 * time.Hour
	DefaultShutdownTimeout   = 30 * time.Second
	DefaultProject           = "demo"
)

// DefaultHostnames are the names the relay's server certificate is issued
// for when Config.Hostnames is empty.
func DefaultHostnames() []string { return []string{"localhost", "127.0.0.1", "::1"} }

// Config is the relay configuration, read from relay.yaml (see
// configs/relay.yaml). The zero value, after [Config.SetDefaults], is the
// embedded demo: everything under ./data, filesystem store, SQLite, and one
// project "demo" accepting any policy. Relative paths are resolved against
// the directory of the configuration file by [Load].
type Config struct {
	// Listen is the host:port of the upload protocol: QUIC on UDP and TLS
	// 1.3 on TCP, same port number. Default ":7443".
	Listen string `yaml:"listen"`

	// APIListen is the host:port of the HTTPS API for core labs.
	// Default ":8443".
	APIListen string `yaml:"api_listen"`

	// Hostnames are the DNS names and IP addresses the relay's server
	// certificate is issued for; agents and core labs must reach the relay
	// by one of them. Default: localhost, 127.0.0.1, ::1.
	Hostnames []string `yaml:"hostnames"`

	// DataDir holds the relay CA (ca/), the receipt signing key
	// (relay-signing.key, 0600), the staging area (staging/), and by
	// default the SQLite database and the filesystem store. Default "data".
	DataDir string `yaml:"data_dir"`

	// Store says where sealed objects and manifests go.
	Store StoreConfig `yaml:"store"`

	// Database is the metadata database.
	Database DatabaseConfig `yaml:"database"`

	// Projects lists the projects this relay accepts files for.
	// Default: one project "demo" with no recipients that accepts any
	// policy (demo only; a warning is logged).
	Projects []ProjectConfig `yaml:"projects"`

	// Readers are the core-lab API credentials. Default: none (the API
	// then refuses every request but /healthz).
	Readers []ReaderConfig `yaml:"readers"`

	// EnrolmentTokenTTL is how long an enrolment token stays valid.
	// Default 72h.
	EnrolmentTokenTTL time.Duration `yaml:"enrolment_token_ttl"`

	// AgentCertValidity is the lifetime of the client certificates issued
	// at enrolment. Default 8760h (one year).
	AgentCertValidity time.Duration `yaml:"agent_cert_validity"`

	// ShutdownTimeout bounds the graceful shutdown: in-flight uploads and
	// downloads get this long to finish. Default 30s.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`

	// DisableQUIC serves the upload protocol over TLS/TCP only (for
	// networks that drop UDP; agents fall back to TCP on their own).
	// Default false: QUIC and TCP on the same port.
	DisableQUIC bool `yaml:"disable_quic"`

	// DisableUDPGRO reads QUIC packets one at a time instead of taking
	// those the kernel coalesced in one read (UDP_GRO, Linux; about 40 %
	// less system CPU on bulk uploads). An escape hatch for kernels or
	// middleboxes that mishandle it. Default false.
	DisableUDPGRO bool `yaml:"disable_udp_gro"`

	// WireGuard runs a userspace WireGuard endpoint (no root, no kernel
	// module) whose peers are the agents' WireGuard keys: static ones
	// listed here and those registered at enrolment (kept in the metadata
	// database); see [WireGuardSection]. The server certificate is also
	// issued for its address. Default: none.
	WireGuard *WireGuardSection `yaml:"wireguard"`

	// ListenMode is where the upload protocol is served: "host" (QUIC and
	// TCP on Listen), "wireguard" (uploads only inside the tunnel, at
	// Listen's port on the tunnel address; Listen on the host then serves
	// enrolment only, token-authenticated, and refuses uploads) or "both".
	// Default "host".
	ListenMode string `yaml:"listen_mode"`

	// Accounts sets the password, lockout, second-factor and session
	// rules of user accounts; see [AccountsConfig] for the defaults.
	Accounts AccountsConfig `yaml:"accounts"`

	// Staging sets how much of the uploads in flight the relay holds in
	// memory rather than in staging files; see [StagingConfig] for the
	// defaults.
	Staging StagingConfig `yaml:"staging"`
}

// StoreConfig selects the object store.
type StoreConfig struct {
	// Type is "fs" (a directory) or "s3" (an S3-compatible bucket).
	// Default "fs".
	Type string `yaml:"type"`

	// FS configures the filesystem store.
	FS FSConfig `yaml:"fs"`

	// S3 configures the S3 store (endpoint, bucket, access_key,
	// secret_key, region, use_tls, create_bucket, part_size); see
	// store.S3Config. Required fields: endpoint and bucket.
	S3 store.S3Config `yaml:"s3"`

	// ManifestObjects also stores each committed file's signed manifest
	// as an object next to it (<sop instance uid>.manifest), one more PUT
	// per file. The manifest is always kept in the metadata database,
	// which the API serves it from. Default false.
	ManifestObjects bool `yaml:"manifest_objects"`
}

// FSConfig configures the filesystem object store.
type FSConfig struct {
	// Dir is the root directory of the objects. Default data_dir/objects.
	Dir string `yaml:"dir"`
}

// DatabaseConfig selects the metadata database, which also holds the
// audit trail.
type DatabaseConfig struct {
	// Type is "sqlite" (one file, one host) or "postgres" (shared by
	// several relays). Default "sqlite".
	Type string `yaml:"type"`

	// Path is the SQLite file. Default data_dir/meta.db. Unused for
	// postgres.
	Path string `yaml:"path"`

	// DSN is the PostgreSQL connection string, a URL
	// ("postgres://user:password@host:5432/dicomgate?sslmode=verify-full")
	// or libpq key=value pairs. It holds a password, so it never prints.
	// Required for postgres; unused for sqlite.
	DSN store.Secret `yaml:"dsn"`
}

// ProjectConfig is one project (trial) the relay accepts files for.
type ProjectConfig struct {
	// ID is the project ID agents put in their manifests: 1..64 characters
	// of [a-z0-9-]. Required.
	ID string `yaml:"id"`

	// Recipients are the core labs' public keys ("dgpub1...") files of
	// this project are sealed to. The relay holds no matching secret key.
	// Default: none.
	Recipients []string `yaml:"recipients"`

	// PolicyHashes are the approved anonymisation policies (canonical
	// SHA-256, 64 lower-case hex digits). The relay refuses files whose
	// manifest names another policy hash. An empty list accepts any policy:
	// for the demo only, and the relay logs a warning. Default: empty.
	PolicyHashes []string `yaml:"policy_hashes"`
}

// ReaderConfig is one API credential for a core lab.
type ReaderConfig struct {
	// Name identifies the reader in download records and logs. Required.
	Name string `yaml:"name"`

	// TokenHash is the hex SHA-256 of the reader's bearer token, as
	// printed by `dicomgate token reader`. The token itself is never
	// stored. Required.
	TokenHash string `yaml:"token_hash"`

	// Projects the reader may download; "*" means every project. Required.
	Projects []string `yaml:"projects"`
}

// ConfigError reports every problem found in a configuration.
type ConfigError struct {
	// File is the configuration file, or "" for a configuration built in
	// code.
	File string
	// Problems lists each problem.
	Problems []error
}

// Error lists the problems, one per line.
func (e *ConfigError) Error() string {
	var b strings.Builder
	b.WriteString("relay: invalid config")
	if e.File != "" {
		b.WriteString(" " + e.File)
	}
	for _, p := range e.Problems {
		b.WriteString("\n  " + p.Error())
	}
	return b.String()
}

// Unwrap returns the problems, for errors.Is and errors.As.
func (e *ConfigError) Unwrap() []error { return e.Problems }

// Load reads the YAML file at path, fills in defaults, resolves relative
// paths against the file's directory and validates the result. Unknown keys
// are errors. An empty path gives the embedded defaults, rooted at the
// working directory.
func Load(path string) (*Config, error) {
	var c Config
	base := "."
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("relay: read config: %w", err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("relay: parse config %s: %w", path, err)
		}
		base = filepath.Dir(path)
	}
	abs, err := filepath.Abs(base)
	if err != nil {
		return nil, fmt.Errorf("relay: config dir: %w", err)
	}
	c.SetDefaults()
	c.ResolvePaths(abs)
	if err := c.Validate(); err != nil {
		var ce *ConfigError
		if errors.As(err, &ce) {
			ce.File = path
		}
		return nil, err
	}
	return &c, nil
}

// SetDefaults replaces every zero field with its documented default. Paths
// derived from DataDir are filled by [Config.ResolvePaths].
func (c *Config) SetDefaults() {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&c.Listen, DefaultListen)
	def(&c.APIListen, DefaultAPIListen)
	def(&c.DataDir, DefaultDataDir)
	def(&c.Store.Type, DefaultStoreType)
	def(&c.Database.Type, DefaultDatabaseType)
	if len(c.Hostnames) == 0 {
		c.Hostnames = DefaultHostnames()
	}
	if c.Projects == nil {
		c.Projects = []ProjectConfig{{ID: DefaultProject}}
	}
	if c.EnrolmentTokenTTL == 0 {
		c.EnrolmentTokenTTL = DefaultEnrolmentTokenTTL
	}
	if c.AgentCertValidity == 0 {
		c.AgentCertValidity = DefaultAgentCertValidity
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
	c.Accounts.setDefaults()
	c.Staging.setDefaults()
}

// ResolvePaths makes DataDir absolute against base and fills the paths that
// default to places inside it.
func (c *Config) ResolvePaths(base string) {
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(base, p)
	}
	c.DataDir = abs(c.DataDir)
	c.Store.FS.Dir = abs(c.Store.FS.Dir)
	c.Database.Path = abs(c.Database.Path)
	if c.WireGuard != nil {
		c.WireGuard.PrivateKeyFile = abs(c.WireGuard.PrivateKeyFile)
	}
	if c.Store.FS.Dir == "" && c.DataDir != "" {
		c.Store.FS.Dir = filepath.Join(c.DataDir, "objects")
	}
	if c.Database.Path == "" && c.DataDir != "" {
		c.Database.Path = filepath.Join(c.DataDir, "meta.db")
	}
}

// project returns the configuration of project id, or nil.
func (c *Config) project(id string) *ProjectConfig {
	for i := range c.Projects {
		if c.Projects[i].ID == id {
			return &c.Projects[i]
		}
	}
	return nil
}

// approves reports whether the project accepts files anonymised with the
// policy of the given hash.
func (p *ProjectConfig) approves(policyHash string) bool {
	if len(p.PolicyHashes) == 0 {
		return true
	}
	for _, h := range p.PolicyHashes {
		if h == policyHash {
			return true
		}
	}
	return false
}

// wireGuard returns the tunnel to serve in (nil for "host") and whether the
// relay serves inside it only.
func (c *Config) wireGuard() (*transport.WireGuardConfig, bool, error) {
	switch c.ListenMode {
	case "", "host":
		return nil, false, nil
	case "wireguard", "both":
	default:
		return nil, false, fmt.Errorf("relay: listen_mode: %q is not host, wireguard or both", c.ListenMode)
	}
	if c.WireGuard == nil {
		return nil, false, fmt.Errorf("relay: listen_mode %s needs a wireguard section", c.ListenMode)
	}
	wg, err := c.WireGuard.Config()
	if err != nil {
		return nil, false, fmt.Errorf("relay: %w", err)
	}
	return wg, c.ListenMode == "wireguard", nil
}
