package seal

import (
	"bytes"
	"errors"
	"slices"
	"testing"
)

// SealedRecipients lists the recipients a file was sealed to, in order,
// and refuses what is not a sealed file.
func TestSealedRecipients(t *testing.T) {
	var rs []*Recipient
	for range 2 {
		id, err := GenerateIdentity()
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, id.Recipient())
	}
	var buf bytes.Buffer
	w, err := NewWriter(&buf, rs)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("plaintext")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := SealedRecipients(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{rs[0].Fingerprint(), rs[1].Fingerprint()}; !slices.Equal(got, want) {
		t.Fatalf("recipients %v, want %v", got, want)
	}
	if _, err := SealedRecipients(bytes.NewReader([]byte("DICM not sealed at all, no header here........."))); !errors.Is(err, ErrTampered) {
		t.Fatalf("plain bytes: %v, want ErrTampered", err)
	}
	if _, err := SealedRecipients(bytes.NewReader(buf.Bytes()[:100])); !errors.Is(err, ErrTampered) {
		t.Fatalf("cut header: %v, want ErrTampered", err)
	}
}
