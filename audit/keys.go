package audit

import (
	"crypto/ed25519"
	"fmt"

	"golang.org/x/mod/sumdb/note"
)

// Signer signs checkpoints with an Ed25519 key under a key name (e.g.
// "dicomgate-relay"). It implements [note.Signer] and also knows its own
// [note.Verifier], which [New] uses by default.
type Signer struct {
	priv ed25519.PrivateKey
	v    note.Verifier
	vkey string
}

// NewSigner returns the checkpoint signer for priv under name. name must
// be a valid note key name: non-empty, no spaces, no "+".
func NewSigner(name string, priv ed25519.PrivateKey) (*Signer, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("audit: signer: private key is %d bytes, want %d", len(priv), ed25519.PrivateKeySize)
	}
	vkey, err := VerifierKey(name, priv.Public().(ed25519.PublicKey))
	if err != nil {
		return nil, err
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, fmt.Errorf("audit: signer: %w", err)
	}
	return &Signer{priv: priv, v: v, vkey: vkey}, nil
}

// Name implements [note.Signer].
func (s *Signer) Name() string { return s.v.Name() }

// KeyHash implements [note.Signer].
func (s *Signer) KeyHash() uint32 { return s.v.KeyHash() }

// Sign implements [note.Signer].
func (s *Signer) Sign(msg []byte) ([]byte, error) { return ed25519.Sign(s.priv, msg), nil }

// Verifier returns the verifier of s's key.
func (s *Signer) Verifier() note.Verifier { return s.v }

// VerifierKey returns the encoded verifier key ("name+hash+base64") of s,
// to publish and to give to `dicomgate audit verify`.
func (s *Signer) VerifierKey() string { return s.vkey }

// VerifierKey returns the encoded note verifier key for an Ed25519 public
// key under name: "name+hash+base64(0x01 || key)", hash being the first
// four bytes of SHA-256(name "\n" 0x01 || key) in hex.
func VerifierKey(name string, pub ed25519.PublicKey) (string, error) {
	vkey, err := note.NewEd25519VerifierKey(name, pub)
	if err != nil {
		return "", fmt.Errorf("audit: verifier key: %w", err)
	}
	if _, err := note.NewVerifier(vkey); err != nil { // checks the name
		return "", fmt.Errorf("audit: verifier key %q: %w", name, err)
	}
	return vkey, nil
}

// NewVerifiers returns the verifiers of the given encoded keys: every key
// a relay has signed checkpoints with, current and retired, so that
// verification survives key rotation.
func NewVerifiers(vkeys ...string) (note.Verifiers, error) {
	if len(vkeys) == 0 {
		return nil, ErrNoVerifier
	}
	vs := make([]note.Verifier, 0, len(vkeys))
	for _, k := range vkeys {
		v, err := note.NewVerifier(k)
		if err != nil {
			return nil, fmt.Errorf("audit: verifier key: %w", err)
		}
		vs = append(vs, v)
	}
	return note.VerifierList(vs...), nil
}

var _ note.Signer = (*Signer)(nil)
