package relay

import (
	"fmt"
	"net"

	"dicomgate/seal"
)

// Validate reports every problem of a configuration after
// [Config.SetDefaults], as a *ConfigError. It does no I/O.
func (c *Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf(format, args...))
	}
	for _, a := range []struct{ name, v string }{{"listen", c.Listen}, {"api_listen", c.APIListen}} {
		if _, _, err := net.SplitHostPort(a.v); err != nil {
			add("%s: %q is not host:port", a.name, a.v)
		}
	}
	if len(c.Hostnames) == 0 {
		add("hostnames: at least one name is required")
	}
	if c.DataDir == "" {
		add("data_dir: required")
	}
	switch c.Store.Type {
	case "fs":
		if c.Store.FS.Dir == "" {
			add("store.fs.dir: required")
		}
	case "s3":
		if err := c.Store.S3.Validate(); err != nil {
			add("store.s3: %v", err)
		}
	default:
		add("store.type: %q is not fs or s3", c.Store.Type)
	}
	switch c.Database.Type {
	case "sqlite":
		if c.Database.Path == "" {
			add("database.path: required")
		}
	case "postgres":
		if c.Database.DSN == "" {
			add("database.dsn: required for postgres")
		}
	default:
		add("database.type: %q is not sqlite or postgres", c.Database.Type)
	}
	if len(c.Projects) == 0 {
		add("projects: at least one project is required")
	}
	projects := map[string]bool{}
	for i, p := range c.Projects {
		where := fmt.Sprintf("projects[%d]", i)
		if !validProject(p.ID) {
			add("%s.id: %q must be 1..64 characters of [a-z0-9-]", where, p.ID)
		} else if projects[p.ID] {
			add("%s.id: duplicate project %q", where, p.ID)
		}
		projects[p.ID] = true
		for j, r := range p.Recipients {
			if _, err := seal.ParseRecipient(r); err != nil {
				add("%s.recipients[%d]: not a recipient key (dgpub1...)", where, j)
			}
		}
		for j, h := range p.PolicyHashes {
			if !isHexDigest(h) {
				add("%s.policy_hashes[%d]: must be 64 lower-case hex digits", where, j)
			}
		}
	}
	readers := map[string]bool{}
	for i, r := range c.Readers {
		where := fmt.Sprintf("readers[%d]", i)
		if r.Name == "" {
			add("%s.name: required", where)
		} else if readers[r.Name] {
			add("%s.name: duplicate reader %q", where, r.Name)
		}
		readers[r.Name] = true
		if !isHexDigest(r.TokenHash) {
			add("%s.token_hash: must be 64 lower-case hex digits (see dicomgate token reader)", where)
		}
		if len(r.Projects) == 0 {
			add("%s.projects: required (project IDs, or \"*\" for all)", where)
		}
		for j, p := range r.Projects {
			if p != "*" && !projects[p] {
				add("%s.projects[%d]: unknown project %q", where, j, p)
			}
		}
	}
	switch c.ListenMode {
	case "", "host":
	case "wireguard", "both":
		if c.WireGuard == nil {
			add("listen_mode: %s needs a wireguard section", c.ListenMode)
		}
	default:
		add("listen_mode: %q is not host, wireguard or both", c.ListenMode)
	}
	if c.WireGuard != nil {
		errs = append(errs, c.WireGuard.validate()...)
	}
	if c.EnrolmentTokenTTL < 0 {
		add("enrolment_token_ttl: must be positive")
	}
	if c.AgentCertValidity < 0 {
		add("agent_cert_validity: must be positive")
	}
	if c.ShutdownTimeout < 0 {
		add("shutdown_timeout: must be positive")
	}
	errs = append(errs, c.Staging.validate()...)
	if len(errs) > 0 {
		return &ConfigError{Problems: errs}
	}
	return nil
}

// isHexDigest reports whether s is a SHA-256 in lower-case hex.
func isHexDigest(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
