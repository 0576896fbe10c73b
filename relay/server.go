package relay

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"dicomgate/audit"
	"dicomgate/store"
	"dicomgate/transport"
)

// readHeaderTimeout bounds how long an API client may take to send its
// request headers.
const readHeaderTimeout = 10 * time.Second

// Server is a relay. Create it with [New]; [Server.Open] opens its keys and
// databases, [Server.Run] serves until its context ends. Its methods are
// safe for concurrent use.
type Server struct {
	cfg     Config
	log     zerolog.Logger
	auth    Authenticator
	version string

	stages stageLocks
	// mem holds the uploads received in memory (staging_memory.go).
	mem *memStaging
	// pendingAudit holds commit events whose append failed (see auditCommit).
	pendingAudit unaudited

	// full tracks episodes of full storage (storagefull.go).
	full fullStorage

	// onStaged, when set (tests), is called after each chunk is staged
	// (in the staging file or in memory) with the file ID and the bytes
	// received so far.
	onStaged func(fileID string, staged int64)

	ready chan struct{}

	mon *monitor // metrics and FHIR writer (metrics.go)

	// refusals limits the audit events of refused handshakes
	// (handshake.go); skews tracks agents with skewed clocks
	// (clockskew.go).
	refusals refusalLimiter
	skews    skewMap

	// health holds the latest queue status of each agent reporting to
	// this relay, in memory (agentstatus.go). With several relays, each
	// shows the agents that report to it.
	health agentHealthMap

	// now is the clock of accounts, sessions and the audit limits of
	// refused handshakes (tests: WithClock).
	now func() time.Time

	mu sync.Mutex
	// +checklocks:mu
	res *resources
	// +checklocks:mu
	addr net.Addr
	// +checklocks:mu
	apiAddr net.Addr
	// +checklocks:mu
	enrolAddr net.Addr
	// +checklocks:mu
	peers *tunnelPeers // enrolled agents in the WireGuard tunnel; nil without one
	// +checklocks:mu
	running bool
}

// resources are what Open opens and Close releases.
type resources struct {
	ca         *transport.CA
	signKey    ed25519.PrivateKey
	serverCert tls.Certificate
	objects    store.ObjectStore
	db         store.MetaDB
	audit      *audit.Log
	accounts   store.AccountStore
	totp       *totpBox // seals the accounts' TOTP secrets
	stagingDir string
}

// An Option configures a [Server].
type Option func(*Server)

// WithVersion names the software version the relay records in its audit
// trail at start-up.
func WithVersion(v string) Option {
	return func(s *Server) { s.version = v }
}

// WithAuthenticator replaces the bearer-token authentication of the API
// (the readers of the configuration) with a.
func WithAuthenticator(a Authenticator) Option {
	return func(s *Server) { s.auth = a }
}

// New returns a relay for cfg, which is copied, defaulted and validated;
// it does no I/O. The logger receives no PHI.
func New(cfg Config, logger zerolog.Logger, opts ...Option) (*Server, error) {
	cfg.SetDefaults()
	cfg.ResolvePaths(".")
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if errs := cfg.Accounts.validate(); len(errs) > 0 {
		return nil, &ConfigError{Problems: errs}
	}
	mon := newMonitor(cfg.Projects)
	s := &Server{
		cfg:    cfg,
		log:    logger,
		stages: stageLocks{m: map[string]*stageLock{}},
		mem:    newMemStaging(cfg.Staging),
		full:   fullStorage{gauge: mon.storageFull},
		ready:  make(chan struct{}),
		mon:    mon,
		now:    time.Now,
	}
	mon.addStagingMetrics(s.mem)
	for _, o := range opts {
		o(s)
	}
	if s.auth == nil {
		a, err := NewTokenAuthenticator(cfg.Readers)
		if err != nil {
			return nil, err
		}
		s.auth = a
	}
	return s, nil
}

// Open loads or creates the relay CA and receipt signing key in the data
// directory (secret files 0600, directories 0700), issues the server
// certificate and opens the object store and metadata database. Calling it
// again is a no-op. [Server.Run] calls it.
func (s *Server) Open(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.res != nil {
		return nil
	}
	cfg := &s.cfg
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("relay: data dir: %w", err)
	}
	ca, created, err := loadOrCreateCA(filepath.Join(cfg.DataDir, caDirName))
	if err != nil {
		return err
	}
	if created {
		s.log.Info().Str("ca_fingerprint", ca.Fingerprint()).Msg("created relay ca")
	}
	key, created, err := loadOrCreateSigningKey(cfg.DataDir)
	if err != nil {
		return err
	}
	if created {
		s.log.Info().Str("key_id", transport.KeyID(key.Public().(ed25519.PublicKey))).Msg("created relay signing key")
	}
	cert, err := ca.IssueServerCert(cfg.certNames())
	if err != nil {
		return fmt.Errorf("relay: server certificate: %w", err)
	}
	staging := filepath.Join(cfg.DataDir, stagingDirName)
	if err := os.MkdirAll(staging, 0o700); err != nil {
		return fmt.Errorf("relay: staging dir: %w", err)
	}
	objects, err := openObjectStore(ctx, cfg.Store)
	if err != nil {
		return err
	}
	db, err := OpenDatabase(ctx, cfg.Database)
	if err != nil {
		return err
	}
	lg, err := openAudit(ctx, db, key, s)
	if err != nil {
		db.Close()
		return err
	}
	accounts, err := openAccounts(ctx, db)
	if err != nil {
		db.Close()
		return err
	}
	box, err := newTOTPBox(key)
	if err != nil {
		db.Close()
		return err
	}
	if n, err := sealLegacyTOTP(ctx, accounts, box); err != nil {
		db.Close()
		return err
	} else if n > 0 {
		s.log.Info().Int("accounts", n).Msg("sealed totp secrets stored in clear")
	}
	s.res = &resources{
		accounts:   accounts,
		totp:       box,
		ca:         ca,
		signKey:    key,
		serverCert: cert,
		objects:    objects,
		db:         db,
		audit:      lg,
		stagingDir: staging,
	}
	return nil
}

// OpenDatabase opens the metadata database cfg selects (creating the
// SQLite file and its folder if needed) and brings its schema up to date.
func OpenDatabase(ctx context.Context, cfg DatabaseConfig) (store.MetaDB, error) {
	switch cfg.Type {
	case "postgres":
		db, err := store.OpenPostgres(ctx, string(cfg.DSN))
		if err != nil {
			return nil, fmt.Errorf("relay: open database: %w", err)
		}
		return db, nil
	default:
		if err := os.MkdirAll(filepath.Dir(cfg.Path), 0o700); err != nil {
			return nil, fmt.Errorf("relay: database dir: %w", err)
		}
		db, err := store.OpenSQLite(ctx, cfg.Path)
		if err != nil {
			return nil, fmt.Errorf("relay: open database: %w", err)
		}
		return db, nil
	}
}

func openObjectStore(ctx context.Context, cfg StoreConfig) (store.ObjectStore, error) {
	switch cfg.Type {
	case "s3":
		s, err := store.NewS3(ctx, cfg.S3)
		if err != nil {
			return nil, fmt.Errorf("relay: open s3 store: %w", err)
		}
		return s, nil
	default:
		s, err := store.NewFS(cfg.FS.Dir)
		if err != nil {
			return nil, fmt.Errorf("relay: open fs store: %w", err)
		}
		return s, nil
	}
}

// Close releases what Open opened. Run closes on its own when it returns.
func (s *Server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.res == nil {
		return nil
	}
	err := s.res.db.Close()
	s.res = nil
	if err != nil {
		return fmt.Errorf("relay: close database: %w", err)
	}
	return nil
}

// resources returns the open resources, or ErrNotRunning.
func (s *Server) resources() (*resources, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.res == nil {
		return nil, ErrNotRunning
	}
	return s.res, nil
}

// Run opens the relay (see [Server.Open]) and serves the upload protocol
// on Config.Listen and the HTTPS API on Config.APIListen until ctx ends.
// It then stops accepting, gives in-flight work Config.ShutdownTimeout to
// finish, closes everything and returns nil. [Server.Ready] is closed once
// both listeners are up. A Server runs once.
func (s *Server) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.running {
		s.mu.Unlock()
		return errors.New("relay: already running")
	}
	s.running = true
	s.mu.Unlock()

	if err := s.Open(ctx); err != nil {
		return err
	}
	defer s.Close()
	res, err := s.resources()
	if err != nil {
		return err
	}
	for _, p := range s.cfg.Projects {
		if len(p.PolicyHashes) == 0 {
			s.log.Warn().Str("project", p.ID).Msg("project accepts any anonymisation policy (policy_hashes is empty): demo only")
		}
	}
	if w := transport.UDPBufferWarning(); w != "" {
		s.log.Warn().Msg(w)
	}

	// The transport server is stopped gracefully below, not by ctx.
	wg, wgOnly, err := s.cfg.wireGuard()
	if err != nil {
		return err
	}
	tc := s.transportConfig(res)
	tc.WireGuard, tc.WireGuardOnly = wg, wgOnly
	up, err := transport.Listen(context.WithoutCancel(ctx), tc)
	if err != nil {
		return fmt.Errorf("relay: listen: %w", err)
	}
	enrol, peers, err := s.listenWireGuard(ctx, res, up, wg, wgOnly)
	if err != nil {
		up.Close(ctx)
		return err
	}
	ln, err := net.Listen("tcp", s.cfg.APIListen)
	if err != nil {
		closeEnrol(ctx, enrol)
		up.Close(ctx)
		return fmt.Errorf("relay: api listen: %w", err)
	}
	api := &http.Server{
		Handler:           s.monitored(s.apiHandler()),
		ReadHeaderTimeout: readHeaderTimeout,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
		ErrorLog:          log.New(debugWriter{s.log}, "", 0),
	}
	tlsLn := tls.NewListener(ln, &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{res.serverCert},
		NextProtos:   []string{"h2", "http/1.1"},
		// Agents call their endpoints (quarantine.go) with their client
		// certificate; browsers and core labs send none.
		ClientAuth: tls.VerifyClientCertIfGiven,
		ClientCAs:  res.ca.Pool(),
	})
	serveErr := make(chan error, 1)
	go func() { serveErr <- api.Serve(tlsLn) }()

	s.sweepStagingNow(ctx, res.stagingDir) // before Ready, so tests see it done
	s.mu.Lock()
	s.addr, s.apiAddr, s.enrolAddr, s.peers = up.Addr(), ln.Addr(), up.Addr(), peers
	if enrol != nil {
		s.enrolAddr = enrol.Addr()
	}
	s.mu.Unlock()
	close(s.ready)
	s.log.Info().Str("addr", up.Addr().String()).Str("api_addr", ln.Addr().String()).
		Str("ca_fingerprint", res.ca.Fingerprint()).Msg("relay running")
	s.recordStart(ctx)
	sweep := time.NewTicker(stagingSweepEvery)
	defer sweep.Stop()

	// Checkpoint the audit trail periodically (Append also does every
	// 100 entries) and once more at shutdown.
	ticker := time.NewTicker(auditCheckpointEvery)
	defer ticker.Stop()
	var syncPeers <-chan time.Time // nil without a tunnel
	if peers != nil {
		t := time.NewTicker(wireGuardSyncEvery)
		defer t.Stop()
		syncPeers = t.C
	}
	var runErr error
wait:
	for {
		select {
		case <-ctx.Done():
			break wait
		case err := <-serveErr:
			runErr = fmt.Errorf("relay: api: %w", err)
			break wait
		case <-ticker.C:
			s.checkpoint(ctx)
		case <-sweep.C:
			s.sweepStagingNow(ctx, res.stagingDir)
		case <-syncPeers:
			if err := peers.sync(ctx, res.db); err != nil {
				s.log.Warn().Err(err).Msg("wireguard peers out of step with the database")
			}
		}
	}
	defer s.checkpoint(context.WithoutCancel(ctx))
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
	defer cancel()
	if err := api.Shutdown(sctx); err != nil {
		s.log.Warn().Err(err).Msg("api shutdown cut short")
	}
	closeEnrol(sctx, enrol)
	if err := up.Close(sctx); err != nil {
		s.log.Warn().Err(err).Msg("transport shutdown cut short")
	}
	s.mu.Lock()
	s.peers = nil // the tunnel is down; revocations now only touch the database
	s.mu.Unlock()
	s.mon.fhir.wait()
	s.log.Info().Msg("relay stopped")
	return runErr
}

// Ready is closed once Run is serving; Addr and APIAddr are set then.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Addr returns the address the upload protocol is served on (UDP and TCP,
// same port), or nil before [Server.Ready].
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// EnrolAddr returns the host address agents enrol at: [Server.Addr], or
// with listen_mode wireguard the enrolment-only listener on Config.Listen
// (uploads are served inside the tunnel only). Nil before [Server.Ready].
func (s *Server) EnrolAddr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.enrolAddr
}

// APIAddr returns the address of the HTTPS API, or nil before
// [Server.Ready].
func (s *Server) APIAddr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.apiAddr
}

// CAFingerprint returns the lowercase hex SHA-256 of the relay CA
// certificate, which enrolment tokens carry and core labs pin. It needs
// [Server.Open].
func (s *Server) CAFingerprint() (string, error) {
	res, err := s.resources()
	if err != nil {
		return "", err
	}
	return res.ca.Fingerprint(), nil
}

// CACertificatePEM returns the relay CA certificate in PEM. It needs
// [Server.Open].
func (s *Server) CACertificatePEM() ([]byte, error) {
	res, err := s.resources()
	if err != nil {
		return nil, err
	}
	return res.ca.CertificatePEM(), nil
}

// ReceiptKey returns the public key receipts are signed with (agents set it
// as transport.ClientConfig.ReceiptKey). It needs [Server.Open].
func (s *Server) ReceiptKey() (ed25519.PublicKey, error) {
	res, err := s.resources()
	if err != nil {
		return nil, err
	}
	return res.signKey.Public().(ed25519.PublicKey), nil
}

// debugWriter sends net/http's own messages (TLS handshake failures and
// the like) to the logger at debug level.
type debugWriter struct{ log zerolog.Logger }

func (w debugWriter) Write(p []byte) (int, error) {
	w.log.Debug().Msg(strings.TrimSpace(string(p)))
	return len(p), nil
}

// transportConfig is the agent-facing listener's configuration on
// s.cfg.Listen: certificates, agent checks and handlers.
func (s *Server) transportConfig(res *resources) transport.ServerConfig {
	return transport.ServerConfig{
		Addr:          s.cfg.Listen,
		Certificate:   res.serverCert,
		ClientCAs:     res.ca.Pool(),
		Authorize:     s.authorize,
		OnRefused:     s.handshakeRefused,
		OnClock:       s.agentClock,
		Handler:       handler{s},
		Logger:        s.log,
		DisableQUIC:   s.cfg.DisableQUIC,
		DisableUDPGRO: s.cfg.DisableUDPGRO,
	}
}
