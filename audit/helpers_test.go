package audit

import (
	"crypto/ed25519"
	"database/sql"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/mod/sumdb/note"
	_ "modernc.org/sqlite" // the "sqlite" driver, for tampering with the database directly

	"dicomgate/store"
)

// testEpoch is the fake clock's start.
var testEpoch = time.Date(2025, 6, 1, 8, 0, 0, 0, time.UTC)

// fakeClock returns a clock that advances one second per call.
func fakeClock() func() time.Time {
	var n atomic.Int64
	return func() time.Time { return testEpoch.Add(time.Duration(n.Add(1)-1) * time.Second) }
}

// testKey returns a deterministic signer named name.
func testKey(t *testing.T, name string, seed byte) *Signer {
	t.Helper()
	s, err := NewSigner(name, ed25519.NewKeyFromSeed(bytesOf(seed, ed25519.SeedSize)))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// bytesOf returns n copies of b.
func bytesOf(b byte, n int) []byte {
	out := make([]byte, n)
	for i := range out {
		out[i] = b
	}
	return out
}

// openLog opens a Log on the SQLite file at path, closed at cleanup.
func openLog(t *testing.T, path string, signer note.Signer, opts *Options) *Log {
	t.Helper()
	st, err := store.OpenSQLiteAudit(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if opts == nil {
		opts = &Options{}
	}
	if opts.Now == nil {
		opts.Now = fakeClock()
	}
	l, err := New(st, signer, testLogger(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// testLogger logs to the test's output when -v is set.
func testLogger(t *testing.T) zerolog.Logger {
	if !testing.Verbose() {
		return zerolog.New(io.Discard)
	}
	return zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel)
}

// rawDB opens the SQLite file directly, for tampering.
func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// mustExec runs SQL statements on db.
func mustExec(t *testing.T, db *sql.DB, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// copyFile copies src to dst.
func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// sampleEvent returns the i-th event of the test corpus: actors user0..4,
// projects p0..2, studies by i, alternating actions.
func sampleEvent(i int) Event {
	actions := []Action{ActionLoginSuccess, ActionFileCommitted, ActionDownload, ActionPolicyEdit}
	return Event{
		Actor:   fmt.Sprintf("user%d", i%5),
		Action:  actions[i%len(actions)],
		Project: fmt.Sprintf("p%d", i%3),
		Study:   fmt.Sprintf("2.25.%d", 1000+i),
		Object:  fmt.Sprintf("file-%d", i),
		IP:      "192.0.2.7",
		Details: map[string]any{"n": i, "report": map[string]any{"removed": 12, "replaced": 3}},
	}
}

// buildLog appends n sample events to a new database in dir with
// CheckpointEvery every, writes a final checkpoint, closes it and returns
// the file's path.
func buildLog(t *testing.T, dir string, n int, every int64, signer note.Signer) string {
	t.Helper()
	path := filepath.Join(dir, "base.db")
	st, err := store.OpenSQLiteAudit(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	l, err := New(st, signer, testLogger(t), &Options{CheckpointEvery: every, Now: fakeClock()})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if idx, err := l.Append(t.Context(), sampleEvent(i)); err != nil || idx != int64(i) {
			t.Fatalf("Append %d = %d, %v", i, idx, err)
		}
	}
	if _, err := l.Checkpoint(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil { // checkpoints the WAL into the file
		t.Fatal(err)
	}
	return path
}
