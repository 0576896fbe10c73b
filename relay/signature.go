package relay

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"dicomgate/audit"
	"dicomgate/store"
)

// Errors of electronic signatures.
var (
	// ErrSignatureAuth: the password or TOTP code re-entered to sign is
	// wrong (it counts towards lockout), or the signer is not an account.
	ErrSignatureAuth = errors.New("relay: signature: wrong password or code")
	// ErrSignatureMeaning: the meaning is not one of [SignatureMeanings].
	ErrSignatureMeaning = errors.New("relay: signature: unknown meaning")
	// ErrSignatureInvalid: a stored signature does not verify, or is not
	// bound to the record it is presented with.
	ErrSignatureInvalid = errors.New("relay: signature does not verify for this record")
)

// SignatureMeanings are the meanings a signer may give (11.50(a)(3)).
func SignatureMeanings() []string {
	return []string{"approval", "review", "responsibility", "authorship", "release"}
}

// SignRequest is what a signer enters to sign (11.200(a)(1)): the
// password again, the TOTP code when enrolled, and the meaning.
type SignRequest struct {
	// Password is the signer's password, re-entered.
	Password string `json:"password"`
	// TOTP is the current code, required when a second factor is
	// enrolled.
	TOTP string `json:"totp"`
	// Meaning is one of [SignatureMeanings].
	Meaning string `json:"meaning"`
}

// signedRecord is a record an electronic signature is bound to: its type,
// its ID within the type and its content, whose canonical JSON SHA-256
// the signature carries.
type signedRecord struct {
	Type    string `json:"type"`
	ID      string `json:"id"`
	Content any    `json:"content"`
}

// hash returns the hex SHA-256 of the record's canonical JSON (Go's
// encoding: struct fields in order, map keys sorted).
func (r signedRecord) hash() (string, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return "", fmt.Errorf("relay: signed record: %w", err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// sealBytes are the bytes the relay signs to seal sig: every field but
// ID and Seal, in canonical JSON.
func sealBytes(sig *store.Signature) []byte {
	b, _ := json.Marshal(struct {
		Domain, Account, PrintedName, Meaning, SignedAt, RecordType, RecordID, RecordSHA256 string
	}{"dicomgate-esig-v1", sig.Account, sig.PrintedName, sig.Meaning, sig.SignedAt.UTC().Format(time.RFC3339Nano),
		sig.RecordType, sig.RecordID, sig.RecordSHA256})
	return b
}

// sign makes p sign rec with req (11.50, 11.70, 11.200): the password
// (and TOTP code when enrolled) are checked again, a failure is audited
// and counts towards lockout; the signature carries the printed name, UTC
// time, meaning and the record's hash, sealed by the relay key.
func (s *Server) sign(ctx context.Context, p *Principal, req SignRequest, rec signedRecord, ip string) (*store.Signature, error) {
	res, err := s.resources()
	if err != nil {
		return nil, err
	}
	if !slices.Contains(SignatureMeanings(), req.Meaning) {
		return nil, fmt.Errorf("%w: want one of %s", ErrSignatureMeaning, strings.Join(SignatureMeanings(), ", "))
	}
	if p == nil || p.session == nil {
		return nil, fmt.Errorf("%w: only accounts sign", ErrSignatureAuth)
	}
	a, err := res.accounts.GetAccount(ctx, p.Name)
	if err != nil {
		return nil, fmt.Errorf("relay: sign: %w", err)
	}
	now := s.now()
	failed := func(reason string) error {
		s.countFailure(ctx, a.Name, ip)
		s.record(ctx, audit.Event{Actor: a.Name, Action: audit.ActionAccessDenied, IP: ip, Object: rec.Type + " " + rec.ID,
			Reason: "signature: " + reason})
		return ErrSignatureAuth
	}
	if !checkPasswordHash(a.PasswordHash, req.Password) {
		return nil, failed("wrong password")
	}
	if a.TOTPEnabled() {
		secret, err := s.openTOTP(a.Name, a.TOTPSecret)
		if err != nil {
			return nil, failed("totp secret unreadable")
		}
		step, ok := checkTOTP(secret, strings.TrimSpace(req.TOTP), now, a.TOTPLastStep)
		if !ok {
			return nil, failed("wrong or reused totp code")
		}
		if _, err := res.accounts.UpdateAccount(ctx, a.Name, func(a *store.Account) error {
			a.TOTPLastStep, a.FailedLogins = step, 0
			return nil
		}); err != nil {
			return nil, fmt.Errorf("relay: sign: %w", err)
		}
	}
	h, err := rec.hash()
	if err != nil {
		return nil, err
	}
	sig := &store.Signature{Account: a.Name, PrintedName: a.FullName, Meaning: req.Meaning,
		SignedAt: now.UTC().Truncate(time.Microsecond), RecordType: rec.Type, RecordID: rec.ID, RecordSHA256: h}
	sig.Seal = ed25519.Sign(res.signKey, sealBytes(sig))
	if sig.ID, err = res.accounts.PutSignature(ctx, *sig); err != nil {
		return nil, fmt.Errorf("relay: sign: %w", err)
	}
	return sig, nil
}

// verifySignature checks that sig is sealed by this relay and bound to
// rec: same type, ID and content hash. A signature moved to another
// record, or edited, fails with [ErrSignatureInvalid].
func (s *Server) verifySignature(sig *store.Signature, rec signedRecord) error {
	res, err := s.resources()
	if err != nil {
		return err
	}
	pub := res.signKey.Public().(ed25519.PublicKey)
	if !ed25519.Verify(pub, sealBytes(sig), sig.Seal) {
		return fmt.Errorf("%w: seal", ErrSignatureInvalid)
	}
	h, err := rec.hash()
	if err != nil {
		return err
	}
	if sig.RecordType != rec.Type || sig.RecordID != rec.ID || sig.RecordSHA256 != h {
		return fmt.Errorf("%w: bound to another record", ErrSignatureInvalid)
	}
	return nil
}

// signatureDetails are the audit details of a signature: its
// manifestation (11.50) and binding.
func signatureDetails(sig *store.Signature) map[string]any {
	return map[string]any{"signature_id": sig.ID, "printed_name": sig.PrintedName, "meaning": sig.Meaning,
		"signed_at": sig.SignedAt.Format(time.RFC3339), "record_sha256": sig.RecordSHA256}
}
