package seal

import (
	"bytes"
	"strings"
	"testing"
)

func TestKeyTextRoundTrip(t *testing.T) {
	id := newTestIdentity(t)
	s := id.String()
	if !strings.HasPrefix(s, IdentityPrefix) || strings.ContainsAny(s, " \n") {
		t.Fatalf("identity text %.20q... has wrong form", s)
	}
	id2, err := ParseIdentity(" " + s + "\n")
	if err != nil {
		t.Fatal(err)
	}
	if id2.String() != s || id2.Recipient().String() != id.Recipient().String() {
		t.Fatal("identity does not round-trip")
	}
	rs := id.Recipient().String()
	if !strings.HasPrefix(rs, RecipientPrefix) || strings.ContainsAny(rs, " \n") || rs != strings.ToLower(rs) {
		t.Fatalf("recipient text %.20q... has wrong form", rs)
	}
	r2, err := ParseRecipient(rs)
	if err != nil {
		t.Fatal(err)
	}
	if r2.String() != rs || r2.Fingerprint() != id.Recipient().Fingerprint() {
		t.Fatal("recipient does not round-trip")
	}
	// A parsed recipient seals to the original identity.
	ct, _ := sealBytes(t, []byte("hello"), testChunk, r2)
	if got, err := openBytes(ct, id2); err != nil || string(got) != "hello" {
		t.Fatalf("open with parsed keys: %v", err)
	}
}

func TestParseKeyErrors(t *testing.T) {
	id := newTestIdentity(t)
	is, rs := id.String(), id.Recipient().String()
	// Changing one base32 character breaks the checksum.
	swapChar := func(s string, i int) string {
		c := byte('A')
		if s[i] == 'A' || s[i] == 'a' {
			c = 'B'
		}
		return s[:i] + string(c) + s[i+1:]
	}
	tests := []struct {
		name      string
		text      string
		recipient bool
	}{
		{"empty identity", "", false},
		{"identity without prefix", is[len(IdentityPrefix):], false},
		{"identity with damaged character", swapChar(is, len(IdentityPrefix)+5), false},
		{"truncated identity", is[:len(is)-3], false},
		{"recipient as identity", rs, false},
		{"empty recipient", "", true},
		{"recipient with damaged character", swapChar(rs, len(rs)/2), true},
		{"truncated recipient", rs[:len(rs)-8], true},
		{"identity as recipient", is, true},
		{"bad base32", RecipientPrefix + "!!!!", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			if tt.recipient {
				_, err = ParseRecipient(tt.text)
			} else {
				_, err = ParseIdentity(tt.text)
			}
			if err == nil {
				t.Fatal("parse succeeded")
			}
			if strings.Contains(err.Error(), is[len(IdentityPrefix):len(IdentityPrefix)+10]) {
				t.Fatal("error leaks key material")
			}
		})
	}
}

func TestGenerateIdentityDeterministic(t *testing.T) {
	seed := bytes.Repeat([]byte{7}, identitySeedSize)
	a, err := generateIdentity(bytes.NewReader(seed))
	if err != nil {
		t.Fatal(err)
	}
	b, err := generateIdentity(bytes.NewReader(seed))
	if err != nil {
		t.Fatal(err)
	}
	if a.String() != b.String() || a.Recipient().String() != b.Recipient().String() {
		t.Fatal("same seed gave different identities")
	}
	if newTestIdentity(t).String() == newTestIdentity(t).String() {
		t.Fatal("GenerateIdentity repeated a key")
	}
}
