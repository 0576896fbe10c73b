package relay

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/rs/zerolog"
	"golang.org/x/mod/sumdb/note"

	"dicomgate/audit"
	"dicomgate/seal"
	"dicomgate/store"
)

// auditSignerName names the relay's checkpoint signatures.
const auditSignerName = "dicomgate-relay"

// auditCheckpointEvery is how often a running relay checkpoints its audit
// trail when anything was appended.
const auditCheckpointEvery = 5 * time.Minute

// openAudit opens the audit trail in the metadata database, signing its
// checkpoints with the relay's key.
func openAudit(ctx context.Context, db store.MetaDB, key ed25519.PrivateKey, s *Server) (*audit.Log, error) {
	o, ok := db.(store.AuditOpener)
	if !ok {
		return nil, fmt.Errorf("relay: audit: database %T has no audit store", db)
	}
	st, err := o.OpenAudit(ctx)
	if err != nil {
		return nil, fmt.Errorf("relay: audit: %w", err)
	}
	signer, err := audit.NewSigner(auditSignerName, key)
	if err != nil {
		return nil, fmt.Errorf("relay: audit: %w", err)
	}
	return audit.New(st, signer, s.log, &audit.Options{CheckpointEvery: 100})
}

// AuditTrail is the relay's audit trail opened outside a running relay,
// for `dicomgate audit verify` and `audit export`.
type AuditTrail struct {
	// Log appends, checkpoints, verifies and exports.
	Log *audit.Log
	// Verifiers check the relay's checkpoint signatures: the current key
	// and the retired ones kept as data_dir/retired-*.pub.
	Verifiers note.Verifiers
	db        store.MetaDB
}

// Close closes the database.
func (t *AuditTrail) Close() error { return t.db.Close() }

// OpenAuditTrail opens the audit trail of the relay configured by cfg (the
// relay itself may be running: the database is shared safely).
func OpenAuditTrail(ctx context.Context, cfg Config, logger zerolog.Logger) (*AuditTrail, error) {
	cfg.SetDefaults()
	key, err := loadSigningKey(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	verifiers, err := auditVerifiers(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	db, err := OpenDatabase(ctx, cfg.Database)
	if err != nil {
		return nil, err
	}
	s := &Server{log: logger}
	lg, err := openAudit(ctx, db, key, s)
	if err != nil {
		db.Close()
		return nil, err
	}
	return &AuditTrail{Log: lg, Verifiers: verifiers, db: db}, nil
}

// auditVerifiers builds the checkpoint verifiers from the relay's current
// public key (relay-signing.pub) and every retired one kept beside it
// (retired-*.pub: rename the old pair when rotating the key), so
// checkpoints signed before a rotation still verify.
func auditVerifiers(dataDir string) (note.Verifiers, error) {
	paths, _ := filepath.Glob(filepath.Join(dataDir, "retired-*.pub"))
	paths = append([]string{filepath.Join(dataDir, verifyKeyFileName)}, paths...)
	var vkeys []string
	for _, p := range paths {
		pem, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("relay: audit: %w", err)
		}
		pub, err := seal.ParseVerifyingKey(pem)
		if err != nil {
			return nil, fmt.Errorf("relay: audit: %s: %w", filepath.Base(p), err)
		}
		vk, err := audit.VerifierKey(auditSignerName, pub)
		if err != nil {
			return nil, fmt.Errorf("relay: audit: %w", err)
		}
		vkeys = append(vkeys, vk)
	}
	v, err := audit.NewVerifiers(vkeys...)
	if err != nil {
		return nil, fmt.Errorf("relay: audit: %w", err)
	}
	return v, nil
}

// loadSigningKey loads the relay's signing key; it must exist.
func loadSigningKey(dataDir string) (ed25519.PrivateKey, error) {
	data, err := os.ReadFile(filepath.Join(dataDir, signingKeyFileName))
	if err != nil {
		return nil, fmt.Errorf("relay: signing key: %w", err)
	}
	key, err := seal.ParseSigningKey(data)
	if err != nil {
		return nil, fmt.Errorf("relay: signing key: %w", err)
	}
	return key, nil
}

// record appends an event to the audit trail. A failure is logged; it
// never carries the event's content.
func (s *Server) record(ctx context.Context, ev audit.Event) {
	s.recordErr(ctx, ev)
}

// recordErr is record, also returning the failure (ErrNotRunning when the
// relay is not open).
func (s *Server) recordErr(ctx context.Context, ev audit.Event) error {
	res, err := s.resources()
	if err != nil || res.audit == nil {
		return ErrNotRunning
	}
	// Fields an agent or a browser chose (file IDs, paths, login names) may
	// hold control characters or invalid UTF-8, which the trail refuses:
	// such an event must still be recorded, escaped.
	ev.Actor, ev.Object, ev.Reason, ev.Project, ev.Study = auditSafe(ev.Actor), auditSafe(ev.Object),
		auditSafe(ev.Reason), auditSafe(ev.Project), auditSafe(ev.Study)
	if _, err := res.audit.Append(context.WithoutCancel(ctx), ev); err != nil {
		s.log.Error().Err(err).Str("action", string(ev.Action)).Msg("audit append failed")
		return err
	}
	return nil
}

// auditSafe replaces control characters and invalid UTF-8 with U+FFFD.
func auditSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == utf8.RuneError {
			return utf8.RuneError
		}
		return r
	}, strings.ToValidUTF8(s, string(utf8.RuneError)))
}

// recordStart records the software version and the configuration in
// force (as a hash: the configuration names no patient, but holds
// secrets).
func (s *Server) recordStart(ctx context.Context) {
	version := s.version
	if bi, ok := debug.ReadBuildInfo(); ok && version == "" {
		version = bi.Main.Version
	}
	s.record(ctx, audit.Event{Actor: "system", Action: audit.ActionSoftwareVersion,
		Details: map[string]any{"version": version, "go": runtime.Version()}})
	cfg, _ := json.Marshal(s.cfg)
	sum := sha256.Sum256(cfg)
	s.record(ctx, audit.Event{Actor: "system", Action: audit.ActionConfigChange, Reason: "relay started",
		Details: map[string]any{"config_sha256": hex.EncodeToString(sum[:]), "projects": len(s.cfg.Projects)}})
}

// checkpoint signs the audit trail's current state if it grew.
func (s *Server) checkpoint(ctx context.Context) {
	res, err := s.resources()
	if err != nil || res.audit == nil {
		return
	}
	latest, _ := res.audit.LatestCheckpoint(ctx)
	size, err := res.audit.Size(ctx)
	if err != nil || (latest != nil && latest.Size >= size) || size == 0 {
		return
	}
	if _, err := res.audit.Checkpoint(ctx); err != nil {
		s.log.Error().Err(err).Msg("audit checkpoint failed")
	}
}

// manifestDetails are the audit details of a file: its pseudonymous
// identifiers and the anonymisation report counts — never a value. The
// event's own time is the relay's (the authority); agent_sealed_at is the
// time the agent claims it sealed the file, by the agent's clock, kept for
// reference only: the relay never refuses a file for it.
func manifestDetails(m *seal.Manifest) map[string]any {
	d := map[string]any{
		"site": m.Site, "series": m.SeriesInstanceUID, "instance": m.SOPInstanceUID,
		"sop_class": m.SOPClassUID, "modality": m.Modality, "policy": m.PolicyID,
		"policy_version": m.PolicyVersion, "policy_hash": m.PolicyHash,
		"plaintext_size": m.PlaintextSize, "ciphertext_sha256": m.CiphertextSHA256,
		"agent_sealed_at": m.Created.UTC().Format(time.RFC3339Nano),
	}
	var rep map[string]any
	if len(m.Report) > 0 && json.Unmarshal(m.Report, &rep) == nil {
		d["anonymisation"] = rep
	}
	return d
}
