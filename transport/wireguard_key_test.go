package transport

import "testing"

func TestWireGuardKey(t *testing.T) {
	priv, err := GenerateWireGuardKey()
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseWireGuardKey(priv.String())
	if err != nil || back != priv {
		t.Fatalf("round trip: %v", err)
	}
	if priv.PublicKey() == priv || priv.PublicKey().IsZero() {
		t.Fatal("public key not derived")
	}
	// RFC 7748 section 6.1 (Alice).
	alice, _ := ParseWireGuardKey("dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo=")
	if got, want := alice.PublicKey().String(), "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo="; got != want {
		t.Fatalf("public key = %s, want %s", got, want)
	}
	for _, bad := range []string{"", "AAAA", "not base64!", priv.String()[:40]} {
		if _, err := ParseWireGuardKey(bad); err == nil {
			t.Errorf("ParseWireGuardKey(%q) accepted", bad)
		}
	}
}
