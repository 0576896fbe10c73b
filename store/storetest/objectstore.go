package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"

	"dicomgate/store"
)

// Run runs the ObjectStore conformance suite. newStore must return a new,
// empty store each time it is called (it is called once per subtest, and
// subtests run in parallel); it may register cleanups on the t it is given.
func Run(t *testing.T, newStore func(t *testing.T) store.ObjectStore) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.ObjectStore)
	}{
		{"PutGetStat", testPutGetStat},
		{"NotExist", testNotExist},
		{"Overwrite", testOverwrite},
		{"GetOffset", testGetOffset},
		{"ZeroSize", testZeroSize},
		{"SizeMismatch", testSizeMismatch},
		{"List", testList},
		{"ListStop", testListStop},
		{"Delete", testDelete},
		{"Large", testLarge},
		{"CancelledContext", testCancelled},
		{"CancelDuringPut", testCancelDuringPut},
		{"InvalidKeys", testInvalidKeys},
		{"ConcurrentPut", testConcurrentPut},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newStore(t))
		})
	}
}

// put stores data under key or fails the test.
func put(t *testing.T, s store.ObjectStore, key string, data []byte) {
	t.Helper()
	if err := s.Put(t.Context(), key, bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
}

// get reads key from offset or fails the test.
func get(t *testing.T, s store.ObjectStore, key string, offset int64) []byte {
	t.Helper()
	rc, err := s.Get(t.Context(), key, offset)
	if err != nil {
		t.Fatalf("Get(%q, %d): %v", key, offset, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("Get(%q, %d): read: %v", key, offset, err)
	}
	return b
}

// keys lists prefix and returns the sorted keys with their sizes.
func keys(t *testing.T, s store.ObjectStore, prefix string) []string {
	t.Helper()
	var out []string
	err := s.List(t.Context(), prefix, func(oi store.ObjectInfo) error {
		out = append(out, fmt.Sprintf("%s:%d", oi.Key, oi.Size))
		return nil
	})
	if err != nil {
		t.Fatalf("List(%q): %v", prefix, err)
	}
	slices.Sort(out)
	return out
}

func testPutGetStat(t *testing.T, s store.ObjectStore) {
	data := []byte("sealed bytes \x00\x01\x02")
	put(t, s, "p1/study/obj.sealed", data)
	if got := get(t, s, "p1/study/obj.sealed", 0); !bytes.Equal(got, data) {
		t.Errorf("Get = %q, want %q", got, data)
	}
	oi, err := s.Stat(t.Context(), "p1/study/obj.sealed")
	if err != nil {
		t.Fatalf("Stat: %v", err)
	}
	if oi.Key != "p1/study/obj.sealed" || oi.Size != int64(len(data)) || oi.ModTime.IsZero() {
		t.Errorf("Stat = %+v, want key, size %d and a mod time", oi, len(data))
	}
}

func testNotExist(t *testing.T, s store.ObjectStore) {
	put(t, s, "other", []byte("x"))
	ctx := t.Context()
	if _, err := s.Get(ctx, "missing/key", 0); !errors.Is(err, store.ErrNotExist) {
		t.Errorf("Get missing: err = %v, want ErrNotExist", err)
	}
	if _, err := s.Get(ctx, "other/below-a-file", 0); !errors.Is(err, store.ErrNotExist) {
		t.Errorf("Get below an object: err = %v, want ErrNotExist", err)
	}
	if _, err := s.Stat(ctx, "missing/key"); !errors.Is(err, store.ErrNotExist) {
		t.Errorf("Stat missing: err = %v, want ErrNotExist", err)
	}
	if err := s.Delete(ctx, "missing/key"); !errors.Is(err, store.ErrNotExist) {
		t.Errorf("Delete missing: err = %v, want ErrNotExist", err)
	}
	if got := keys(t, s, "missing/"); len(got) != 0 {
		t.Errorf("List missing prefix = %v, want nothing", got)
	}
}

func testOverwrite(t *testing.T, s store.ObjectStore) {
	put(t, s, "k", []byte("first version, longer"))
	put(t, s, "k", []byte("second"))
	if got := get(t, s, "k", 0); string(got) != "second" {
		t.Errorf("Get after overwrite = %q, want %q", got, "second")
	}
	if got := keys(t, s, ""); !slices.Equal(got, []string{"k:6"}) {
		t.Errorf("List after overwrite = %v, want [k:6]", got)
	}
}

func testGetOffset(t *testing.T, s store.ObjectStore) {
	data := []byte("0123456789")
	put(t, s, "off", data)
	for _, off := range []int64{0, 1, 5, 9, 10} {
		if got := get(t, s, "off", off); !bytes.Equal(got, data[off:]) {
			t.Errorf("Get offset %d = %q, want %q", off, got, data[off:])
		}
	}
	for _, off := range []int64{-1, 11, 1 << 40} {
		rc, err := s.Get(t.Context(), "off", off)
		if !errors.Is(err, store.ErrInvalidOffset) {
			if rc != nil {
				rc.Close()
			}
			t.Errorf("Get offset %d: err = %v, want ErrInvalidOffset", off, err)
		}
	}
}

func testZeroSize(t *testing.T, s store.ObjectStore) {
	put(t, s, "empty", nil)
	if got := get(t, s, "empty", 0); len(got) != 0 {
		t.Errorf("Get empty = %q", got)
	}
	oi, err := s.Stat(t.Context(), "empty")
	if err != nil || oi.Size != 0 {
		t.Errorf("Stat empty = %+v, %v; want size 0", oi, err)
	}
	if got := keys(t, s, "empty"); !slices.Equal(got, []string{"empty:0"}) {
		t.Errorf("List = %v, want [empty:0]", got)
	}
}

func testSizeMismatch(t *testing.T, s store.ObjectStore) {
	put(t, s, "keep", []byte("original"))
	tests := []struct {
		name string
		data string
		size int64
	}{
		{"short", "abc", 4},
		{"long", "abcde", 4},
		{"negative", "abc", -1},
	}
	for _, tc := range tests {
		err := s.Put(t.Context(), "keep", strings.NewReader(tc.data), tc.size)
		if !errors.Is(err, store.ErrSizeMismatch) {
			t.Errorf("%s: Put err = %v, want ErrSizeMismatch", tc.name, err)
		}
		err = s.Put(t.Context(), "new-"+tc.name, strings.NewReader(tc.data), tc.size)
		if !errors.Is(err, store.ErrSizeMismatch) {
			t.Errorf("%s: Put new err = %v, want ErrSizeMismatch", tc.name, err)
		}
	}
	if got := get(t, s, "keep", 0); string(got) != "original" {
		t.Errorf("after failed puts Get = %q, want original", got)
	}
	if got := keys(t, s, ""); !slices.Equal(got, []string{"keep:8"}) {
		t.Errorf("after failed puts List = %v, want [keep:8]", got)
	}
}

func testList(t *testing.T, s store.ObjectStore) {
	for _, k := range []string{"a/b/c", "a/b/d.x", "a/bc", "a.b", "ab", "z/y_1-2"} {
		put(t, s, k, []byte(k))
	}
	tests := []struct {
		prefix string
		want   []string
	}{
		{"", []string{"a.b:3", "a/b/c:5", "a/b/d.x:7", "a/bc:4", "ab:2", "z/y_1-2:7"}},
		{"a", []string{"a.b:3", "a/b/c:5", "a/b/d.x:7", "a/bc:4", "ab:2"}},
		{"a/", []string{"a/b/c:5", "a/b/d.x:7", "a/bc:4"}},
		{"a/b", []string{"a/b/c:5", "a/b/d.x:7", "a/bc:4"}},
		{"a/b/", []string{"a/b/c:5", "a/b/d.x:7"}},
		{"a/b/d", []string{"a/b/d.x:7"}},
		{"z/y_1-2", []string{"z/y_1-2:7"}},
		{"nothing", nil},
	}
	for _, tc := range tests {
		if got := keys(t, s, tc.prefix); !slices.Equal(got, tc.want) {
			t.Errorf("List(%q) = %v, want %v", tc.prefix, got, tc.want)
		}
	}
	if err := s.List(t.Context(), "../", func(store.ObjectInfo) error { return nil }); !errors.Is(err, store.ErrInvalidKey) {
		t.Errorf("List(\"../\"): err = %v, want ErrInvalidKey", err)
	}
}

func testListStop(t *testing.T, s store.ObjectStore) {
	for i := range 5 {
		put(t, s, fmt.Sprintf("n/%d", i), []byte("x"))
	}
	stop := errors.New("stop here")
	calls := 0
	err := s.List(t.Context(), "n/", func(store.ObjectInfo) error {
		calls++
		if calls == 2 {
			return stop
		}
		return nil
	})
	if err != stop {
		t.Errorf("List err = %v, want the callback's error unwrapped", err)
	}
	if calls != 2 {
		t.Errorf("callback called %d times after stopping at 2", calls)
	}
}

func testDelete(t *testing.T, s store.ObjectStore) {
	put(t, s, "d/1", []byte("one"))
	put(t, s, "d/2", []byte("two"))
	if err := s.Delete(t.Context(), "d/1"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := s.Stat(t.Context(), "d/1"); !errors.Is(err, store.ErrNotExist) {
		t.Errorf("Stat after Delete: err = %v, want ErrNotExist", err)
	}
	if err := s.Delete(t.Context(), "d/1"); !errors.Is(err, store.ErrNotExist) {
		t.Errorf("second Delete: err = %v, want ErrNotExist", err)
	}
	if got := keys(t, s, ""); !slices.Equal(got, []string{"d/2:3"}) {
		t.Errorf("List after Delete = %v, want [d/2:3]", got)
	}
	if err := s.Delete(t.Context(), "d/2"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	put(t, s, "d/3", []byte("three")) // the emptied prefix is usable again
	if got := keys(t, s, ""); !slices.Equal(got, []string{"d/3:5"}) {
		t.Errorf("List = %v, want [d/3:5]", got)
	}
}

// patternReader yields n deterministic pseudo-random bytes without
// holding them in memory.
type patternReader struct {
	n, off int64
	state  uint64
}

// Read implements io.Reader.
func (p *patternReader) Read(b []byte) (int, error) {
	if p.off >= p.n {
		return 0, io.EOF
	}
	b = b[:min(int64(len(b)), p.n-p.off)]
	for i := range b {
		p.state = p.state*6364136223846793005 + 1442695040888963407
		b[i] = byte(p.state >> 56)
	}
	p.off += int64(len(b))
	return len(b), nil
}

func testLarge(t *testing.T, s store.ObjectStore) {
	const size = 12<<20 + 12345
	h := sha256.New()
	io.Copy(h, &patternReader{n: size, state: 1})
	want := h.Sum(nil)

	if err := s.Put(t.Context(), "big/object", &patternReader{n: size, state: 1}, size); err != nil {
		t.Fatalf("Put large: %v", err)
	}
	oi, err := s.Stat(t.Context(), "big/object")
	if err != nil || oi.Size != size {
		t.Fatalf("Stat large = %+v, %v; want size %d", oi, err, size)
	}
	rc, err := s.Get(t.Context(), "big/object", 0)
	if err != nil {
		t.Fatalf("Get large: %v", err)
	}
	h.Reset()
	n, err := io.Copy(h, rc)
	rc.Close()
	if err != nil || n != size || !bytes.Equal(h.Sum(nil), want) {
		t.Fatalf("Get large: read %d bytes, err %v, hash match %v", n, err, bytes.Equal(h.Sum(nil), want))
	}

	// Resume: the tail from an offset matches the generator's tail.
	const off = 7<<20 + 3
	gen := &patternReader{n: size, state: 1}
	io.CopyN(io.Discard, gen, off)
	h.Reset()
	io.Copy(h, gen)
	want = h.Sum(nil)
	rc, err = s.Get(t.Context(), "big/object", off)
	if err != nil {
		t.Fatalf("Get large at offset: %v", err)
	}
	h.Reset()
	n, err = io.Copy(h, rc)
	rc.Close()
	if err != nil || n != size-off || !bytes.Equal(h.Sum(nil), want) {
		t.Fatalf("Get large at offset: read %d bytes, err %v, hash match %v", n, err, bytes.Equal(h.Sum(nil), want))
	}
}

func testCancelled(t *testing.T, s store.ObjectStore) {
	put(t, s, "c", []byte("data"))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	calls := []struct {
		name string
		call func() error
	}{
		{"Put", func() error { return s.Put(ctx, "c2", strings.NewReader("x"), 1) }},
		{"Get", func() error {
			rc, err := s.Get(ctx, "c", 0)
			if err == nil {
				rc.Close()
			}
			return err
		}},
		{"Stat", func() error { _, err := s.Stat(ctx, "c"); return err }},
		{"List", func() error { return s.List(ctx, "", func(store.ObjectInfo) error { return nil }) }},
		{"Delete", func() error { return s.Delete(ctx, "c") }},
	}
	for _, c := range calls {
		if err := c.call(); !errors.Is(err, context.Canceled) {
			t.Errorf("%s with cancelled ctx: err = %v, want context.Canceled", c.name, err)
		}
	}
	if got := keys(t, s, ""); !slices.Equal(got, []string{"c:4"}) {
		t.Errorf("after cancelled calls List = %v, want [c:4]", got)
	}
}

// cancelReader cancels a context once it has yielded after bytes.
type cancelReader struct {
	r      io.Reader
	after  int64
	cancel context.CancelFunc
}

// Read implements io.Reader.
func (c *cancelReader) Read(p []byte) (int, error) {
	if c.after <= 0 {
		c.cancel()
	}
	n, err := c.r.Read(p[:min(int64(len(p)), max(c.after, 1))])
	c.after -= int64(n)
	return n, err
}

func testCancelDuringPut(t *testing.T, s store.ObjectStore) {
	const size = 6 << 20
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	r := &cancelReader{r: &patternReader{n: size, state: 2}, after: 1 << 20, cancel: cancel}
	err := s.Put(ctx, "half", r, size)
	if err == nil {
		t.Fatal("Put with ctx cancelled mid-stream succeeded")
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Put err = %v, want context.Canceled", err)
	}
	if _, err := s.Stat(t.Context(), "half"); !errors.Is(err, store.ErrNotExist) {
		t.Errorf("Stat after cancelled Put: err = %v, want ErrNotExist (no partial object)", err)
	}
	if got := keys(t, s, ""); len(got) != 0 {
		t.Errorf("List after cancelled Put = %v, want nothing", got)
	}
}

func testInvalidKeys(t *testing.T, s store.ObjectStore) {
	bad := []string{
		"", "/abs", "a/../b", "..", "a..b", "a/", "a//b", "./a", "a/./b",
		"sp ace", `back\slash`, "tab\t", "nul\x00", "pct%20", "é", "a~tmp",
		strings.Repeat("k", store.MaxKeyLen+1),
	}
	ctx := t.Context()
	for _, k := range bad {
		errs := map[string]error{
			"Put":    s.Put(ctx, k, strings.NewReader("x"), 1),
			"Stat":   func() error { _, err := s.Stat(ctx, k); return err }(),
			"Delete": s.Delete(ctx, k),
			"Get": func() error {
				rc, err := s.Get(ctx, k, 0)
				if err == nil {
					rc.Close()
				}
				return err
			}(),
		}
		for op, err := range errs {
			if !errors.Is(err, store.ErrInvalidKey) {
				t.Errorf("%s(%q): err = %v, want ErrInvalidKey", op, k, err)
			}
		}
	}
	if got := keys(t, s, ""); len(got) != 0 {
		t.Errorf("after invalid puts List = %v, want nothing", got)
	}
	// The longest key: 10 segments of 99 bytes plus slashes, then 24 bytes
	// (file systems cap one name at 255 bytes, not a whole path).
	longest := strings.Repeat(strings.Repeat("k", 99)+"/", 10) + strings.Repeat("k", 24)
	good := []string{"a", "A-Z_0.9/x", ".hidden/y", "x/.y", longest}
	for _, k := range good {
		put(t, s, k, []byte(k[:1]))
		if got := get(t, s, k, 0); string(got) != k[:1] {
			t.Errorf("Get(%q) = %q", k, got)
		}
	}
}

func testConcurrentPut(t *testing.T, s store.ObjectStore) {
	const writers = 8
	const size = 256 << 10
	var wg sync.WaitGroup
	errs := make(chan error, 2*writers)
	for i := range writers {
		wg.Go(func() {
			// Half the writers fight over one key, half write their own.
			data := bytes.Repeat([]byte{byte('a' + i)}, size)
			errs <- s.Put(t.Context(), "race/shared", bytes.NewReader(data), size)
			errs <- s.Put(t.Context(), fmt.Sprintf("race/own-%d", i), bytes.NewReader(data), size)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent Put: %v", err)
		}
	}
	got := get(t, s, "race/shared", 0)
	if len(got) != size || !bytes.Equal(got, bytes.Repeat(got[:1], size)) {
		t.Errorf("shared key holds a mix of writers' bytes (len %d)", len(got))
	}
	for i := range writers {
		b := get(t, s, fmt.Sprintf("race/own-%d", i), 0)
		if !bytes.Equal(b, bytes.Repeat([]byte{byte('a' + i)}, size)) {
			t.Errorf("race/own-%d corrupted", i)
		}
	}
	if n := len(keys(t, s, "race/")); n != writers+1 {
		t.Errorf("List race/ = %d objects, want %d", n, writers+1)
	}
}
