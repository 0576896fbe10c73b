package agent

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"dicomgate/transport"
)

// copyProcessor is a real, trivial Processor: the "sealed" file is
// "SEALED\n" plus the source bytes. A source line "study=X" names the study;
// a source containing "PERMANENT" fails permanently; "BLOCK" blocks until
// the context is cancelled.
type copyProcessor struct {
	mu    sync.Mutex
	calls map[int64]int
}

func (p *copyProcessor) Process(ctx context.Context, it *Item, src io.Reader, spool io.Writer) (*ProcessResult, error) {
	p.mu.Lock()
	if p.calls == nil {
		p.calls = map[int64]int{}
	}
	p.calls[it.ID]++
	p.mu.Unlock()
	data, err := io.ReadAll(src)
	if err != nil {
		return nil, err
	}
	if bytes.Contains(data, []byte("PERMANENT")) {
		return nil, Permanent("file is not DICOM", nil)
	}
	if bytes.Contains(data, []byte("BLOCK")) {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	study := "2.25.0"
	for line := range bytes.Lines(data) {
		if s, ok := bytes.CutPrefix(bytes.TrimSpace(line), []byte("study=")); ok {
			study = string(s)
		}
	}
	if _, err := spool.Write(append([]byte("SEALED\n"), data...)); err != nil {
		return nil, err
	}
	return &ProcessResult{FileID: fmt.Sprintf("file-%d", it.ID), StudyUID: study, Manifest: []byte("manifest")}, nil
}

func (p *copyProcessor) count(id int64) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls[id]
}

// dirUploader is a real Uploader into a folder, idempotent per file id. It
// fails the first failFirst uploads of each item with a retryable error, or
// every upload while failAll is set.
type dirUploader struct {
	dir       string
	failFirst int
	failAll   bool

	mu       sync.Mutex
	attempts map[int64]int
	stored   map[string]int // file id -> successful uploads
	full     bool           // refuse as a relay whose storage is full
}

// setFull makes every upload fail as refused by a relay whose storage is
// full, or stops that.
func (u *dirUploader) setFull(full bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.full = full
}

// totalAttempts sums the attempts of every item.
func (u *dirUploader) totalAttempts() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	n := 0
	for _, a := range u.attempts {
		n += a
	}
	return n
}

func (u *dirUploader) Upload(ctx context.Context, it *Item, spool io.ReaderAt) ([]byte, error) {
	u.mu.Lock()
	if u.attempts == nil {
		u.attempts, u.stored = map[int64]int{}, map[string]int{}
	}
	u.attempts[it.ID]++
	fail := u.failAll || u.attempts[it.ID] <= u.failFirst
	full := u.full
	u.mu.Unlock()
	if full {
		return nil, fmt.Errorf("agent: upload: %w (unavailable): %w", transport.ErrRelayUnavailable, transport.ErrRelayStorageFull)
	}
	if fail {
		return nil, errors.New("relay unreachable")
	}
	data, err := io.ReadAll(io.NewSectionReader(spool, 0, it.Size))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) != it.Size {
		return nil, fmt.Errorf("short spool file")
	}
	if err := os.WriteFile(filepath.Join(u.dir, it.FileID), data, 0o600); err != nil {
		return nil, err
	}
	u.mu.Lock()
	u.stored[it.FileID]++
	u.mu.Unlock()
	return []byte("receipt:" + it.FileID), nil
}

func (u *dirUploader) storedCounts() map[string]int {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := map[string]int{}
	for k, v := range u.stored {
		out[k] = v
	}
	return out
}

func (u *dirUploader) attemptsOf(id int64) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.attempts[id]
}

// testLogger logs warnings and errors to the test.
func testLogger(t testing.TB) zerolog.Logger {
	return zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
}

func openTestQueue(t *testing.T, path string) *Queue {
	t.Helper()
	q, err := OpenQueue(t.Context(), testLogger(t), path)
	if err != nil {
		t.Fatalf("OpenQueue: %v", err)
	}
	return q
}

// testConfig returns a config rooted at a temporary folder with short
// retry delays.
func testConfig(t *testing.T) *Config {
	dir := t.TempDir()
	c := &Config{
		SpoolDir: filepath.Join(dir, "spool"), QuarantineDir: filepath.Join(dir, "quarantine"),
		QueueDB: filepath.Join(dir, "queue.db"), Workers: 2, UploadsInFlight: 4,
		Retry: RetryConfig{Min: 5 * time.Millisecond, Max: 20 * time.Millisecond},
	}
	c.SetDefaults()
	return c
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// startPipeline runs p until the returned stop function is called.
func startPipeline(t *testing.T, p *Pipeline) (stop func()) {
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Pipeline.Run: %v", err)
		}
	}
}

// drain waits (at most a minute) for the pipeline to have nothing pending.
func drain(t *testing.T, p *Pipeline) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if err := p.Drain(ctx); err != nil {
		t.Fatalf("Drain: %v", err)
	}
}

// eventually polls cond until it holds, failing after a generous deadline.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func counts(t *testing.T, q *Queue) map[State]int {
	t.Helper()
	c, err := q.Counts(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// committedNow counts the committed items of the queue at path while the
// agent that holds it runs (a read-only connection beside its own: the
// queue's lock file keeps a second Queue out).
func committedNow(t *testing.T, path string) int {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM items WHERE state = ?`, string(StateCommitted)).Scan(&n); err != nil {
		return -1 // busy, or the schema is not there yet: asked again
	}
	return n
}

// retryNow makes every waiting item due now, as if its back-off had passed.
func (q *Queue) retryNow(t *testing.T) {
	t.Helper()
	if _, err := q.db.ExecContext(t.Context(), `UPDATE items SET next_attempt_at = 0`); err != nil {
		t.Fatal(err)
	}
}
