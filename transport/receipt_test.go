package transport

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"testing"
	"time"
)

func TestReceiptSignVerify(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	otherPub, _, _ := ed25519.GenerateKey(rand.Reader)
	base := func() *Receipt {
		r := &Receipt{ID: "f1", ObjectKey: "objects/f1", Size: 42, SHA256: [32]byte{1, 2}, CommittedAt: time.Date(2025, 1, 2, 3, 4, 5, 6, time.FixedZone("x", 3600))}
		r.Sign(priv)
		return r
	}
	tests := []struct {
		name   string
		mutate func(*Receipt)
		pub    ed25519.PublicKey
		ok     bool
	}{
		{name: "valid", mutate: func(*Receipt) {}, pub: pub, ok: true},
		{name: "wire round trip", mutate: func(r *Receipt) {
			d, err := unmarshalReceipt(r.marshal())
			if err != nil {
				t.Fatal(err)
			}
			*r = *d
		}, pub: pub, ok: true},
		{name: "other key", mutate: func(*Receipt) {}, pub: otherPub},
		{name: "id", mutate: func(r *Receipt) { r.ID = "f2" }, pub: pub},
		{name: "object key", mutate: func(r *Receipt) { r.ObjectKey = "x" }, pub: pub},
		{name: "size", mutate: func(r *Receipt) { r.Size++ }, pub: pub},
		{name: "hash", mutate: func(r *Receipt) { r.SHA256[5] = 9 }, pub: pub},
		{name: "time", mutate: func(r *Receipt) { r.CommittedAt = r.CommittedAt.Add(time.Nanosecond) }, pub: pub},
		{name: "key id", mutate: func(r *Receipt) { r.RelayKeyID = "x" }, pub: pub},
		{name: "field boundary", mutate: func(r *Receipt) { r.ID, r.ObjectKey = "f1o", "bjects/f1" }, pub: pub},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := base()
			tc.mutate(r)
			err := r.Verify(tc.pub)
			if tc.ok != (err == nil) || (err != nil && !errors.Is(err, ErrBadReceiptSignature)) {
				t.Fatalf("verify = %v, want ok=%v", err, tc.ok)
			}
		})
	}
	if r := base(); r.RelayKeyID != KeyID(pub) {
		t.Fatalf("RelayKeyID = %q, want %q", r.RelayKeyID, KeyID(pub))
	}
}
