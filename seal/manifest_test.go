package seal

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// testManifest returns a complete, valid manifest.
func testManifest() *Manifest {
	h := sha256.Sum256([]byte("x"))
	return &Manifest{
		FileID:            "01J0000000000000000000TEST",
		Project:           "trial-42",
		Site:              "site-a",
		AgentID:           "agent-1",
		PolicyID:          "basic",
		PolicyVersion:     "3",
		PolicyHash:        "sha256:abc",
		StudyInstanceUID:  "2.25.1",
		SeriesInstanceUID: "2.25.2",
		SOPInstanceUID:    "2.25.3",
		SOPClassUID:       "1.2.840.10008.5.1.4.1.1.2",
		Modality:          "CT",
		TransferSyntaxUID: "1.2.840.10008.1.2.1",
		PlaintextSize:     100,
		PlaintextSHA256:   hex.EncodeToString(h[:]),
		CiphertextSize:    2600,
		CiphertextSHA256:  hex.EncodeToString(h[:]),
		Report:            json.RawMessage(`{"D":3,"X":12}`),
		Created:           time.Date(2025, 1, 2, 3, 4, 5, 6, time.FixedZone("CET", 3600)),
	}
}

// mustKey returns a new signing key.
func mustKey(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	k, err := GenerateSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestManifestRoundTrip(t *testing.T) {
	priv := mustKey(t)
	m := testManifest()
	env, err := SignManifest(priv, m)
	if err != nil {
		t.Fatal(err)
	}
	if m.FormatVersion != 0 || m.Created.Location().String() != "CET" {
		t.Fatal("SignManifest modified its argument")
	}
	got, err := OpenManifest(env, TrustKeys(priv.Public().(ed25519.PublicKey)))
	if err != nil {
		t.Fatal(err)
	}
	want := *m
	want.FormatVersion = ManifestVersion
	want.Created = m.Created.UTC()
	if !reflect.DeepEqual(got, &want) {
		t.Fatalf("got %+v\nwant %+v", got, &want)
	}
	if got.Created.Location() != time.UTC {
		t.Fatal("created time is not UTC")
	}
	// Signing is deterministic.
	env2, err := SignManifest(priv, m)
	if err != nil || !bytes.Equal(env, env2) {
		t.Fatalf("signing the same manifest twice differs: %v", err)
	}
}

func TestManifestSetStats(t *testing.T) {
	id := newTestIdentity(t)
	ct, st := sealBytes(t, []byte("pixels"), testChunk, id.Recipient())
	m := testManifest()
	m.SetStats(st)
	ph, ch := sha256.Sum256([]byte("pixels")), sha256.Sum256(ct)
	if m.PlaintextSize != 6 || m.PlaintextSHA256 != hex.EncodeToString(ph[:]) ||
		m.CiphertextSize != int64(len(ct)) || m.CiphertextSHA256 != hex.EncodeToString(ch[:]) {
		t.Fatalf("SetStats wrong: %+v", m)
	}
}

// mutateEnvelope decodes env, applies f to its fields, and re-encodes it.
func mutateEnvelope(t *testing.T, env []byte, f func(map[string]string)) []byte {
	t.Helper()
	var m map[string]string
	if err := json.Unmarshal(env, &m); err != nil {
		t.Fatal(err)
	}
	f(m)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestManifestTamper(t *testing.T) {
	priv, other := mustKey(t), mustKey(t)
	pub := priv.Public().(ed25519.PublicKey)
	otherPub := other.Public().(ed25519.PublicKey)
	env, err := SignManifest(priv, testManifest())
	if err != nil {
		t.Fatal(err)
	}
	otherEnv, err := SignManifest(other, testManifest())
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.StdEncoding.EncodeToString
	tests := []struct {
		name    string
		env     []byte
		trusted func(ed25519.PublicKey) error
	}{
		{"changed project", mutateEnvelope(t, env, func(m map[string]string) {
			p, _ := base64.StdEncoding.DecodeString(m["payload"])
			m["payload"] = b64(bytes.Replace(p, []byte("trial-42"), []byte("trial-43"), 1))
		}), TrustKeys(pub)},
		{"flipped signature bit", mutateEnvelope(t, env, func(m map[string]string) {
			s, _ := base64.StdEncoding.DecodeString(m["signature"])
			s[10] ^= 1
			m["signature"] = b64(s)
		}), TrustKeys(pub)},
		{"signer replaced by trusted key", mutateEnvelope(t, env, func(m map[string]string) {
			m["signer"] = b64(otherPub)
			m["key_id"] = SigningKeyID(otherPub)
		}), TrustKeys(otherPub)},
		{"key id mismatch", mutateEnvelope(t, env, func(m map[string]string) { m["key_id"] = SigningKeyID(otherPub) }), TrustKeys(pub)},
		{"wrong type", mutateEnvelope(t, env, func(m map[string]string) { m["type"] = "dicomgate-manifest/v2" }), TrustKeys(pub)},
		{"short signer", mutateEnvelope(t, env, func(m map[string]string) { m["signer"] = b64(pub[:31]) }), TrustKeys(pub)},
		{"untrusted signer", otherEnv, TrustKeys(pub)},
		{"no trusted keys", env, TrustKeys()},
		{"malformed json", env[:len(env)-1], TrustKeys(pub)},
		{"trailing data", append(bytes.Clone(env), []byte(`{}`)...), TrustKeys(pub)},
		{"unknown field", []byte(strings.Replace(string(env), `{`, `{"extra":"x",`, 1)), TrustKeys(pub)},
		{"empty", nil, TrustKeys(pub)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := OpenManifest(tt.env, tt.trusted)
			if !errors.Is(err, ErrBadSignature) {
				t.Fatalf("err = %v, want ErrBadSignature", err)
			}
			if m != nil {
				t.Fatal("manifest returned despite error")
			}
		})
	}
	if _, err := OpenManifest(env, nil); err == nil {
		t.Fatal("nil trust function accepted")
	}
}

func TestSignManifestInvalid(t *testing.T) {
	priv := mustKey(t)
	tests := []struct {
		name   string
		mutate func(*Manifest)
	}{
		{"no file id", func(m *Manifest) { m.FileID = "" }},
		{"no project", func(m *Manifest) { m.Project = "" }},
		{"bad plaintext hash", func(m *Manifest) { m.PlaintextSHA256 = "ABC" }},
		{"upper-case hash", func(m *Manifest) { m.CiphertextSHA256 = strings.ToUpper(m.CiphertextSHA256) }},
		{"negative size", func(m *Manifest) { m.CiphertextSize = -1 }},
		{"bad report", func(m *Manifest) { m.Report = json.RawMessage(`{`) }},
		{"zero time", func(m *Manifest) { m.Created = time.Time{} }},
		{"future version", func(m *Manifest) { m.FormatVersion = 2 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := testManifest()
			tt.mutate(m)
			if _, err := SignManifest(priv, m); err == nil {
				t.Fatal("invalid manifest signed")
			}
		})
	}
	if _, err := SignManifest(priv[:10], testManifest()); err == nil {
		t.Fatal("short key accepted")
	}
}

func TestSigningKeyPEM(t *testing.T) {
	priv := mustKey(t)
	pemPriv, err := MarshalSigningKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseSigningKey(pemPriv)
	if err != nil || !got.Equal(priv) {
		t.Fatalf("private key round trip: %v", err)
	}
	pub := priv.Public().(ed25519.PublicKey)
	pemPub, err := MarshalVerifyingKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	gotPub, err := ParseVerifyingKey(pemPub)
	if err != nil || !gotPub.Equal(pub) {
		t.Fatalf("public key round trip: %v", err)
	}
	for _, tt := range []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"public as private", pemPub},
		{"garbage", []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ParseSigningKey(tt.data); err == nil {
				t.Fatal("parse succeeded")
			}
		})
	}
	if _, err := ParseVerifyingKey(pemPriv); err == nil {
		t.Fatal("private PEM parsed as public key")
	}
}

func TestManifestSigner(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	env, err := SignManifest(priv, testManifest())
	if err != nil {
		t.Fatal(err)
	}
	got, err := ManifestSigner(env)
	if err != nil || !got.Equal(pub) {
		t.Fatalf("ManifestSigner = %x, %v; want %x", got, err, pub)
	}
	for name, bad := range map[string][]byte{
		"not json":   []byte("{"),
		"other type": []byte(`{"type":"x","signer":"` + base64.StdEncoding.EncodeToString(pub) + `"}`),
		"short key":  []byte(`{"type":"` + EnvelopeType + `","signer":"AAAA"}`),
	} {
		if _, err := ManifestSigner(bad); !errors.Is(err, ErrBadSignature) {
			t.Errorf("%s: %v, want ErrBadSignature", name, err)
		}
	}
}
