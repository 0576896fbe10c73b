package seal

import (
	"encoding/hex"
	"io"
)

// SealedRecipients reads the header of the sealed file r starts with and
// returns the fingerprints ([Recipient.Fingerprint]) of the recipients its
// data key is wrapped to, in header order. The header's MAC needs the data
// key, so nothing here is authenticated: it tells a writer to whom it
// sealed its own files (to seal again those sealed to recipients since
// replaced), never whom to trust. Structural problems wrap [ErrTampered].
func SealedRecipients(r io.Reader) ([]string, error) {
	h, err := readHeader(r)
	if err != nil {
		return nil, err
	}
	fps := make([]string, len(h.stanzas))
	for i, s := range h.stanzas {
		fps[i] = hex.EncodeToString(s.keyID[:])
	}
	return fps, nil
}
