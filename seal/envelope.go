package seal

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
)

// EnvelopeType is the "type" of a signed manifest envelope and the domain
// separation prefix of its signature.
const EnvelopeType = "dicomgate-manifest/v1"

// maxEnvelopeSize bounds the envelopes OpenManifest accepts.
const maxEnvelopeSize = 1 << 20

// envelope is the JSON form of a signed manifest.
type envelope struct {
	Type      string `json:"type"`
	Payload   string `json:"payload"`   // base64 of the canonical manifest JSON
	Signer    string `json:"signer"`    // base64 of the Ed25519 public key
	KeyID     string `json:"key_id"`    // SigningKeyID(signer)
	Signature string `json:"signature"` // base64 Ed25519 over signedMessage(payload)
}

// signedMessage is what the Ed25519 signature covers: the envelope type, a
// newline, then the exact payload bytes.
func signedMessage(payload []byte) []byte {
	return append([]byte(EnvelopeType+"\n"), payload...)
}

// SignManifest validates m and returns a self-contained signed envelope: a
// JSON object holding the canonical manifest JSON (base64), the signer's
// Ed25519 public key and key ID, and the signature. Created is converted to
// UTC and FormatVersion defaults to [ManifestVersion]; m is not modified.
func SignManifest(priv ed25519.PrivateKey, m *Manifest) ([]byte, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return nil, errors.New("seal: sign manifest: invalid ed25519 private key")
	}
	if m == nil {
		return nil, errors.New("seal: sign manifest: nil manifest")
	}
	c := *m
	if c.FormatVersion == 0 {
		c.FormatVersion = ManifestVersion
	}
	c.Created = c.Created.UTC()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	payload, err := json.Marshal(&c)
	if err != nil {
		return nil, fmt.Errorf("seal: sign manifest: %w", err)
	}
	pub := priv.Public().(ed25519.PublicKey)
	env := envelope{
		Type:      EnvelopeType,
		Payload:   base64.StdEncoding.EncodeToString(payload),
		Signer:    base64.StdEncoding.EncodeToString(pub),
		KeyID:     SigningKeyID(pub),
		Signature: base64.StdEncoding.EncodeToString(ed25519.Sign(priv, signedMessage(payload))),
	}
	out, err := json.Marshal(&env)
	if err != nil {
		return nil, fmt.Errorf("seal: sign manifest: %w", err)
	}
	return out, nil
}

// TrustKeys returns a trust function for [OpenManifest] accepting exactly
// the given public keys.
func TrustKeys(keys ...ed25519.PublicKey) func(ed25519.PublicKey) error {
	return func(pub ed25519.PublicKey) error {
		for _, k := range keys {
			if k.Equal(pub) {
				return nil
			}
		}
		return fmt.Errorf("seal: signer %s is not trusted", SigningKeyID(pub))
	}
}

// decodeEnvelope parses a signed envelope from [SignManifest] and returns
// it with its signer's public key, verifying nothing. Every failure wraps
// [ErrBadSignature].
func decodeEnvelope(envelopeJSON []byte) (*envelope, ed25519.PublicKey, error) {
	if len(envelopeJSON) > maxEnvelopeSize {
		return nil, nil, fmt.Errorf("envelope too large: %w", ErrBadSignature)
	}
	var env envelope
	dec := json.NewDecoder(bytes.NewReader(envelopeJSON))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&env); err != nil {
		return nil, nil, fmt.Errorf("malformed envelope: %w", ErrBadSignature)
	}
	if dec.More() {
		return nil, nil, fmt.Errorf("trailing data: %w", ErrBadSignature)
	}
	if env.Type != EnvelopeType {
		return nil, nil, fmt.Errorf("unknown envelope type: %w", ErrBadSignature)
	}
	pub, err := base64.StdEncoding.Strict().DecodeString(env.Signer)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return nil, nil, fmt.Errorf("malformed envelope: %w", ErrBadSignature)
	}
	return &env, ed25519.PublicKey(pub), nil
}

// ManifestSigner returns the public key a signed envelope names as its
// signer, WITHOUT verifying anything: it tells an agent which of its keys
// sealed a file, never whether to trust the manifest (that is
// [OpenManifest]).
func ManifestSigner(envelopeJSON []byte) (ed25519.PublicKey, error) {
	_, pub, err := decodeEnvelope(envelopeJSON)
	if err != nil {
		return nil, fmt.Errorf("seal: manifest signer: %w", err)
	}
	return pub, nil
}

// OpenManifest verifies a signed envelope from [SignManifest] and only then
// decodes the manifest. trusted is called with the signer's public key and
// must return nil only if that key may sign for this context (e.g. the key
// enrolled for the agent). Any verification failure, an untrusted signer
// included, wraps [ErrBadSignature].
func OpenManifest(envelopeJSON []byte, trusted func(pub ed25519.PublicKey) error) (*Manifest, error) {
	if trusted == nil {
		return nil, errors.New("seal: open manifest: nil trust function")
	}
	env, pub, err := decodeEnvelope(envelopeJSON)
	if err != nil {
		return nil, fmt.Errorf("seal: open manifest: %w", err)
	}
	payload, err1 := base64.StdEncoding.Strict().DecodeString(env.Payload)
	sig, err2 := base64.StdEncoding.Strict().DecodeString(env.Signature)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("seal: open manifest: malformed envelope: %w", ErrBadSignature)
	}
	if env.KeyID != SigningKeyID(pub) {
		return nil, fmt.Errorf("seal: open manifest: key id mismatch: %w", ErrBadSignature)
	}
	if err := trusted(pub); err != nil {
		return nil, fmt.Errorf("seal: open manifest: %w: %w", ErrBadSignature, err)
	}
	if !ed25519.Verify(pub, signedMessage(payload), sig) {
		return nil, fmt.Errorf("seal: open manifest: signature does not verify: %w", ErrBadSignature)
	}
	var m Manifest
	pd := json.NewDecoder(bytes.NewReader(payload))
	pd.DisallowUnknownFields()
	if err := pd.Decode(&m); err != nil {
		return nil, fmt.Errorf("seal: open manifest: decode payload: %w", err)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}
