package store_test

import (
	"fmt"
	"sync/atomic"
	"testing"

	"dicomgate/store"
	"dicomgate/store/storetest"
)

func TestS3(t *testing.T) {
	cfg := storetest.StartS3(t)
	var n atomic.Int64
	storetest.Run(t, func(t *testing.T) store.ObjectStore {
		c := cfg
		c.Bucket = fmt.Sprintf("conformance-%d", n.Add(1)) // a fresh, empty bucket
		c.PartSize = 5 << 20                               // 12 MiB objects go multipart
		s, err := store.NewS3(t.Context(), c)
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}
