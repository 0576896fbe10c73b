package store_test

import (
	"fmt"
	"sync/atomic"
	"testing"

	"dicomgate/store"
	"dicomgate/store/storetest"
)

// TestS3 runs the object store suite against a real S3 server, with
// unsigned payloads and CRC32C trailers (the default) and with signed
// payloads, and the multipart (PartStore) suite in both modes.
func TestS3(t *testing.T) {
	cfg := storetest.StartS3(t)
	var n atomic.Int64
	for _, sign := range []bool{false, true} {
		t.Run(fmt.Sprintf("sign_payload=%v", sign), func(t *testing.T) {
			storetest.Run(t, func(t *testing.T) store.ObjectStore {
				c := cfg
				c.Bucket = fmt.Sprintf("conformance-%d", n.Add(1)) // a fresh, empty bucket
				c.PartSize = 5 << 20                               // 12 MiB objects go multipart
				c.SignPayload = sign
				s, err := store.NewS3(t.Context(), c)
				if err != nil {
					t.Fatal(err)
				}
				return s
			})
		})
		t.Run(fmt.Sprintf("parts/sign_payload=%v", sign), func(t *testing.T) {
			storetest.RunParts(t, func(t *testing.T) (store.PartStore, store.PartStore) {
				c := cfg
				c.Bucket = fmt.Sprintf("parts-%d", n.Add(1))
				c.PartSize = 5 << 20
				c.SignPayload = sign
				a, err := store.NewS3(t.Context(), c)
				if err != nil {
					t.Fatal(err)
				}
				b, err := store.NewS3(t.Context(), c)
				if err != nil {
					t.Fatal(err)
				}
				return a, b
			})
		})
	}
}
