package relay

import (
	"context"
	"fmt"
	"io"

	"dicomgate/store"
)

// objectBody is the verified sealed file a commit stores: held by the
// relay (heldBody), or already in the object store (storedBody).
type objectBody interface {
	// put stores the file at key (size bytes).
	put(ctx context.Context, objects store.ObjectStore, key string, size int64) error
	// discard drops what the body holds in the object store of its own
	// (a stored body whose commit went elsewhere), unless it is the
	// object at keep.
	discard(ctx context.Context, keep string)
}

// heldBody is a file the relay holds (a staging file, memory), read from
// its start for each put.
type heldBody struct{ r io.ReadSeeker }

func (b heldBody) put(ctx context.Context, objects store.ObjectStore, key string, size int64) error {
	if _, err := b.r.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("relay: staged file: %w", err)
	}
	return objects.Put(ctx, key, b.r, size)
}

func (heldBody) discard(context.Context, string) {}

// storedBody is a file already stored, under its own object key, by a
// streamed upload (see writeStreamed). Putting it at that key does
// nothing; at another key (conflicts/) copies it through the relay.
type storedBody struct {
	s       *Server
	objects store.ObjectStore // the store that holds it
	key     string
}

func (b storedBody) put(ctx context.Context, objects store.ObjectStore, key string, size int64) error {
	if key == b.key {
		return nil
	}
	r, err := objects.Get(ctx, b.key, 0)
	if err != nil {
		return fmt.Errorf("relay: stored upload: %w", err)
	}
	defer r.Close()
	return objects.Put(ctx, key, r, size)
}

func (b storedBody) discard(ctx context.Context, keep string) {
	if b.key == keep {
		return
	}
	if err := b.objects.Delete(ctx, b.key); err != nil {
		b.s.log.Warn().Err(err).Msg("delete streamed object")
	}
}
