package seal

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/hpke"
	"crypto/sha256"
	"encoding/binary"
	"path/filepath"
	"testing"
)

// TestSpecConformance decrypts the committed v1-basic vector following
// docs/sealed-format.md step by step, using crypto primitives directly, so
// the document and the implementation cannot drift apart.
func TestSpecConformance(t *testing.T) {
	id, err := LoadIdentity(filepath.Join("testdata", "v1-basic.key"))
	if err != nil {
		t.Fatal(err)
	}
	ct := readFile(t, filepath.Join("testdata", "v1-basic.sealed"))
	want := readFile(t, filepath.Join("testdata", "v1-basic.plain"))

	if string(ct[:7]) != "DGSEAL\x00" || ct[7] != 1 {
		t.Fatal("magic/version")
	}
	c := int(binary.BigEndian.Uint32(ct[8:12]))
	salt := ct[12:44]
	n := int(binary.BigEndian.Uint16(ct[44:46]))
	if c != 64 || n != 1 {
		t.Fatalf("chunk size %d, recipients %d", c, n)
	}
	preamble := ct[:46]
	st := ct[46 : 46+1184]
	keyID, enc, wrapped := st[:16], st[16:1136], st[1136:]
	pkR := id.Recipient().pub.Bytes()
	if len(pkR) != 1216 {
		t.Fatalf("public key is %d bytes", len(pkR))
	}
	idHash := sha256.Sum256(append([]byte("dicomgate/seal/v1 key id"), pkR...))
	if !bytes.Equal(keyID, idHash[:16]) {
		t.Fatal("key id")
	}
	rcv, err := hpke.NewRecipient(enc, id.priv, hpke.HKDFSHA256(), hpke.AES256GCM(), []byte("dicomgate/seal/v1 data key"))
	if err != nil {
		t.Fatal(err)
	}
	if hpke.MLKEM768X25519().ID() != 0x647a || id.priv.KEM().ID() != 0x647a {
		t.Fatal("kem id")
	}
	k, err := rcv.Open(append(bytes.Clone(preamble), keyID...), wrapped)
	if err != nil {
		t.Fatalf("unwrap: %v", err)
	}
	hdrEnd := 46 + 1184
	kmac, _ := hkdf.Key(sha256.New, k, salt, "dicomgate/seal/v1 header mac", 32)
	mac := hmac.New(sha256.New, kmac)
	mac.Write(ct[:hdrEnd])
	if !hmac.Equal(mac.Sum(nil), ct[hdrEnd:hdrEnd+32]) {
		t.Fatal("header mac")
	}
	h := sha256.Sum256(ct[:hdrEnd+32])
	kp, _ := hkdf.Key(sha256.New, k, h[:], "dicomgate/seal/v1 payload", 32)
	block, _ := aes.NewCipher(kp)
	gcm, _ := cipher.NewGCM(block)
	var got []byte
	body := ct[hdrEnd+32:]
	for i := uint64(0); len(body) > 0; i++ {
		size := min(len(body), c+16)
		last := size == len(body)
		nonce := make([]byte, 12)
		binary.BigEndian.PutUint64(nonce[3:11], i)
		if last {
			nonce[11] = 1
		}
		pt, err := gcm.Open(nil, nonce, body[:size], nil)
		if err != nil {
			t.Fatalf("chunk %d: %v", i, err)
		}
		got = append(got, pt...)
		body = body[size:]
	}
	if !bytes.Equal(got, want) {
		t.Fatal("plaintext")
	}
}
