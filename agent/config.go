package agent

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"gopkg.in/yaml.v3"

	"dicomgate/seal"
	"dicomgate/transport"
)

// Config is the agent configuration, read from agent.yaml. The zero value,
// after [Config.SetDefaults], is a working configuration for the embedded
// demo: every field documents its default. Relative paths are resolved
// against the directory of the configuration file (or the working
// directory when there is none) by [Config.ResolvePaths].
type Config struct {
	// Site names this agent's site in manifests and the audit trail.
	// Default: "demo-site".
	Site string `yaml:"site"`

	// Project is the project (trial) whose files this agent sends.
	// Default: "demo".
	Project string `yaml:"project"`

	// Relay says where and how to reach the relay.
	Relay RelayConfig `yaml:"relay"`

	// WireGuard, when set, reaches the relay through a userspace WireGuard
	// tunnel (no root, no kernel module); see [transport.WireGuardSection].
	// Two forms: without peers (e.g. `wireguard: {}`), `agent enroll`
	// registers the agent's WireGuard key with the relay and everything
	// left out comes from the enrolment (identity_dir/wg.key unless
	// private_key_file is set, the tunnel address, the relay as peer with
	// keepalive 25s, and the relay's address inside the tunnel), while
	// relay.address stays the relay's host address for enrolment. With
	// peers, the section is static: relay.address is then the relay's
	// ip:port inside the tunnel, e.g. "10.99.0.1:7443". Default: none.
	WireGuard *transport.WireGuardSection `yaml:"wireguard"`

	// IdentityDir holds the agent's key, its certificate and the pinned
	// relay CA written by `dicomgate agent enroll`. Default: "identity".
	IdentityDir string `yaml:"identity_dir"`

	// Policy is the path of the anonymisation policy file. Default: ""
	// (the built-in Basic Application Level Confidentiality Profile).
	Policy string `yaml:"policy"`

	// SecretFile holds the site re-identification secret used for UID and
	// date pseudonymisation. Default: "identity/site.secret".
	SecretFile string `yaml:"secret_file"`

	// Recipients lists the public keys files are sealed to, besides the
	// recipients of the policy: each entry is either a key in text form
	// ("dgpub1...", as printed by `dicomgate keygen`) or the path of a .pub
	// file. Files are sealed to the union of both lists, which must not be
	// empty. Default: none (the policy's recipients only).
	Recipients []string `yaml:"recipients"`

	// Secret is the site secret inline; use SecretFile instead where you
	// can. It never prints. Default: "" (read SecretFile). Setting both is
	// an error.
	Secret Secret `yaml:"secret"`

	// Watch lists the folders to take files from. Default: none.
	Watch []WatchConfig `yaml:"watch"`

	// DICOM configures the C-STORE SCP (see [DICOMConfig]). Default: off
	// (listen ""), AE title "DICOMGATE", any calling AE title. Received
	// instances wait in spool_dir/received until committed, then are
	// deleted.
	DICOM DICOMConfig `yaml:"dicom"`

	// SpoolDir holds sealed files waiting for upload. Default: "spool".
	SpoolDir string `yaml:"spool_dir"`

	// SpoolMemory bounds the bytes of sealed files held in memory instead
	// of spool_dir: sources up to 8 MiB are sealed into memory while it
	// has room and uploaded from there, and go to spool_dir only when
	// their upload fails or the agent stops (see agent/doc.go, "Sealed in
	// memory"). -1 seals every file into spool_dir. Default: 32 MiB.
	SpoolMemory int64 `yaml:"spool_memory"`

	// QueueDB is the SQLite file of the durable queue. Default: "queue.db".
	QueueDB string `yaml:"queue_db"`

	// KeepCommitted is how long the queue keeps the item of a committed
	// file (its receipt) once its source is gone (moved or deleted after
	// the commit); a source still in its folder keeps its item, which
	// stops the folder's rescans from taking it again. Checked hourly.
	// A negative duration (-1s) keeps every item. Default: 720h (30 days).
	KeepCommitted time.Duration `yaml:"keep_committed"`

	// QuarantineDir receives one "<item id>.reason" file per quarantined
	// item. Default: "quarantine".
	QuarantineDir string `yaml:"quarantine_dir"`

	// Workers is the number of files anonymised and sealed at once.
	// Default: the number of CPUs.
	Workers int `yaml:"workers"`

	// UploadsInFlight is the number of files uploaded at once. Default: 8.
	UploadsInFlight int `yaml:"uploads_in_flight"`

	// StudyIdle is how long a study must go without a new instance to count
	// as complete. Default: 60s.
	StudyIdle time.Duration `yaml:"study_idle"`

	// Retry bounds the back-off between attempts of a failing item.
	Retry RetryConfig `yaml:"retry"`

	// LogLevel is the zerolog level: trace, debug, info, warn, error.
	// Default: "info".
	LogLevel string `yaml:"log_level"`

	// MonitorConfig holds metrics_listen and stuck_after (metrics_config.go).
	MonitorConfig `yaml:",inline"`
}

// RelayConfig says where the relay is.
type RelayConfig struct {
	// Address is the relay's host:port. Default: "localhost:7443".
	Address string `yaml:"address"`

	// Mode is "quic", "tcp" (TLS 1.3 over TCP) or "auto" (QUIC, falling
	// back to TCP where UDP is blocked). Default: "auto".
	Mode string `yaml:"mode"`

	// ReceiptKey is the path of the relay's receipt verification key (PEM
	// PKIX Ed25519 public key). When set, every receipt must carry a valid
	// signature by it. Default: "" (receipts are checked against the offer
	// but their signature is not verified).
	ReceiptKey string `yaml:"receipt_key"`

	// API is the base URL of the relay's HTTPS API, e.g.
	// "https://relay.example.org:8443". When set, the agent reports its
	// quarantined items there and applies the requeue and discard
	// decisions taken in the relay's web UI, polling every 30 s, with its
	// enrolled client certificate. Default: "" (no quarantine review).
	API string `yaml:"api"`

	// RenewBefore is how long before its expiry the agent renews its
	// certificate, over its connection to the relay (the relay's
	// agent_cert_validity sets the new one's lifetime). Default: 0, a
	// third of the certificate's lifetime.
	RenewBefore time.Duration `yaml:"renew_before"`
}

// RetryConfig bounds the exponential back-off (with jitter) between two
// attempts of an item that failed with a retryable error.
type RetryConfig struct {
	// Min is the first delay. Default: 1s.
	Min time.Duration `yaml:"min"`

	// Max caps the delay. Default: 5m.
	Max time.Duration `yaml:"max"`
}

// Defaults of [Config] fields.
const (
	DefaultSite            = "demo-site"
	DefaultProject         = "demo"
	DefaultRelayAddress    = "localhost:7443"
	DefaultRelayMode       = "auto"
	DefaultIdentityDir     = "identity"
	DefaultSecretFile      = "identity/site.secret"
	DefaultSpoolDir        = "spool"
	DefaultKeepCommitted   = 30 * 24 * time.Hour
	DefaultSpoolMemory     = 32 << 20
	DefaultQueueDB         = "queue.db"
	DefaultQuarantineDir   = "quarantine"
	DefaultUploadsInFlight = 8
	DefaultStudyIdle       = 60 * time.Second
	DefaultRetryMin        = time.Second
	DefaultRetryMax        = 5 * time.Minute
	DefaultLogLevel        = "info"
)

// ConfigError reports every problem found in a configuration.
type ConfigError struct {
	// File is the configuration file, or "" for a configuration built in code.
	File string
	// Problems lists each problem, one error each.
	Problems []error
}

// Error lists all problems on one line each.
func (e *ConfigError) Error() string {
	var b strings.Builder
	b.WriteString("agent: invalid config")
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
// paths against the file's directory and validates the result. An empty path
// gives the default configuration, rooted at the working directory.
// Unknown keys are errors.
func Load(path string) (*Config, error) {
	var c Config
	base := "."
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("agent: read config: %w", err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("agent: parse config %s: %w", path, err)
		}
		base = filepath.Dir(path)
	}
	abs, err := filepath.Abs(base)
	if err != nil {
		return nil, fmt.Errorf("agent: config dir: %w", err)
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

// SetDefaults replaces every zero field with its documented default.
func (c *Config) SetDefaults() {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&c.Site, DefaultSite)
	def(&c.Project, DefaultProject)
	def(&c.Relay.Address, DefaultRelayAddress)
	def(&c.Relay.Mode, DefaultRelayMode)
	def(&c.IdentityDir, DefaultIdentityDir)
	if c.Secret == "" {
		def(&c.SecretFile, DefaultSecretFile)
	}
	def(&c.SpoolDir, DefaultSpoolDir)
	def(&c.QueueDB, DefaultQueueDB)
	def(&c.QuarantineDir, DefaultQuarantineDir)
	def(&c.LogLevel, DefaultLogLevel)
	if c.Workers == 0 {
		c.Workers = runtime.NumCPU()
	}
	if c.SpoolMemory == 0 {
		c.SpoolMemory = DefaultSpoolMemory
	}
	if c.KeepCommitted == 0 {
		c.KeepCommitted = DefaultKeepCommitted
	}
	if c.UploadsInFlight == 0 {
		c.UploadsInFlight = DefaultUploadsInFlight
	}
	if c.StudyIdle == 0 {
		c.StudyIdle = DefaultStudyIdle
	}
	if c.Retry.Min == 0 {
		c.Retry.Min = DefaultRetryMin
	}
	if c.Retry.Max == 0 {
		c.Retry.Max = DefaultRetryMax
	}
	for i := range c.Watch {
		c.Watch[i].SetDefaults()
	}
	c.DICOM.SetDefaults()
}

// ResolvePaths makes every relative path in c absolute against base.
func (c *Config) ResolvePaths(base string) {
	abs := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(base, *p)
		}
	}
	abs(&c.IdentityDir)
	abs(&c.Policy)
	abs(&c.SecretFile)
	abs(&c.Relay.ReceiptKey)
	if c.WireGuard != nil {
		abs(&c.WireGuard.PrivateKeyFile)
	}
	for i, r := range c.Recipients {
		if !isRecipientText(r) {
			abs(&c.Recipients[i])
		}
	}
	abs(&c.SpoolDir)
	abs(&c.QueueDB)
	abs(&c.QuarantineDir)
	for i := range c.Watch {
		abs(&c.Watch[i].Path)
		abs(&c.Watch[i].MoveTo)
	}
}

// Validate checks c (after [Config.SetDefaults]) and returns a
// *[ConfigError] listing every problem, or nil.
func (c *Config) Validate() error {
	var probs []error
	bad := func(format string, args ...any) {
		probs = append(probs, fmt.Errorf(format, args...))
	}
	switch c.Relay.Mode {
	case "auto", "quic", "tcp":
	default:
		bad("relay.mode: %q is not auto, quic or tcp", c.Relay.Mode)
	}
	if c.Relay.RenewBefore < 0 {
		bad("relay.renew_before: %s is negative", c.Relay.RenewBefore)
	}
	if c.Relay.Address == "" {
		bad("relay.address: empty")
	}
	if c.Secret != "" && c.SecretFile != "" {
		bad("secret and secret_file: set only one")
	}
	for i, r := range c.Recipients {
		switch {
		case strings.TrimSpace(r) == "":
			bad("recipients[%d]: empty", i)
		case isRecipientText(r):
			if _, err := seal.ParseRecipient(r); err != nil {
				bad("recipients[%d]: not a valid public key", i)
			}
		}
	}
	if c.Workers < 0 {
		bad("workers: %d is negative", c.Workers)
	}
	if c.SpoolMemory < -1 {
		bad("spool_memory: %d is neither a size in bytes nor -1 (off)", c.SpoolMemory)
	}
	if c.UploadsInFlight < 0 {
		bad("uploads_in_flight: %d is negative", c.UploadsInFlight)
	}
	if c.StudyIdle < 0 {
		bad("study_idle: %s is negative", c.StudyIdle)
	}
	if c.Retry.Min < 0 {
		bad("retry.min: %s is negative", c.Retry.Min)
	}
	if c.Retry.Max < c.Retry.Min {
		bad("retry.max: %s is less than retry.min %s", c.Retry.Max, c.Retry.Min)
	}
	if _, err := zerolog.ParseLevel(c.LogLevel); err != nil || c.LogLevel == "" {
		bad("log_level: %q is not a level", c.LogLevel)
	}
	for _, d := range []struct{ name, path string }{
		{"spool_dir", c.SpoolDir}, {"queue_db", c.QueueDB}, {"quarantine_dir", c.QuarantineDir},
	} {
		if d.path == "" {
			bad("%s: empty", d.name)
		}
	}
	for _, p := range c.DICOM.validate() {
		bad("dicom.%w", p)
	}
	seen := map[string]int{}
	for i, w := range c.Watch {
		for _, p := range w.validate() {
			bad("watch[%d].%w", i, p)
		}
		if j, dup := seen[w.Path]; dup && w.Path != "" {
			bad("watch[%d].path: same folder as watch[%d]", i, j)
		}
		seen[w.Path] = i
		for _, d := range []struct{ name, path string }{
			{"spool_dir", c.SpoolDir}, {"quarantine_dir", c.QuarantineDir},
		} {
			if w.Path != "" && within(w.Path, d.path) {
				bad("watch[%d].path: contains %s", i, d.name)
			}
		}
	}
	probs = append(probs, c.MonitorConfig.validate()...)
	if len(probs) > 0 {
		return &ConfigError{Problems: probs}
	}
	return nil
}

// Level returns the configured zerolog level (info if unset or invalid).
func (c *Config) Level() zerolog.Level {
	l, err := zerolog.ParseLevel(c.LogLevel)
	if err != nil || c.LogLevel == "" {
		return zerolog.InfoLevel
	}
	return l
}

// within reports whether path p is dir or below it.
func within(dir, p string) bool {
	rel, err := filepath.Rel(dir, p)
	if err != nil {
		return false
	}
	return rel == "." || (rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)))
}
