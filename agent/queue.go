package agent

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	_ "modernc.org/sqlite" // database/sql driver "sqlite", pure Go
)

// Queue errors callers may branch on.
var (
	// ErrNotFound: no item has that id.
	ErrNotFound = errors.New("agent: queue item not found")
	// ErrStateConflict: the item is not in the state the transition
	// starts from, or another worker holds its lease.
	ErrStateConflict = errors.New("agent: queue item state conflict")
	// ErrQueueLocked: another process has the queue open.
	ErrQueueLocked = errors.New("agent: queue in use by another process")
)

// Queue is the durable queue of items, an embedded SQLite database (WAL,
// synchronous=FULL but for the claims and transitions that agent/doc.go
// (Durability) argues may be lost on a power cut). Every transition is one
// transaction. A Queue is safe
// for concurrent use; only one process may open a given database.
//
// Items being worked on carry a lease, taken by [Queue.Claim] and released
// by the next transition, [Queue.Retry] or [Queue.Release]. Opening the
// queue releases every lease left behind by a crashed process, so its items
// are claimed again at the stage where they stopped.
type Queue struct {
	db    *sql.DB
	fast  *sql.DB // the same file, synchronous=NORMAL: see durableSQL and agent/doc.go
	lock  *os.File
	owner string // lease owner token of this process
	log   zerolog.Logger

	mu      sync.Mutex
	changed chan struct{} // +checklocks:mu; closed and replaced on change

	stmtMu sync.Mutex
	stmts  map[stmtKey]*sql.Stmt // +checklocks:stmtMu; prepared once per query
}

// stmtKey names a prepared statement of one of the queue's pools.
type stmtKey struct {
	db    *sql.DB
	query string
}

// stmt returns query prepared on db, preparing it on first use: the hot
// statements are then parsed once per connection, not once per call.
func (q *Queue) stmt(ctx context.Context, db *sql.DB, query string) (*sql.Stmt, error) {
	q.stmtMu.Lock()
	defer q.stmtMu.Unlock()
	k := stmtKey{db, query}
	if st, ok := q.stmts[k]; ok {
		return st, nil
	}
	st, err := db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if q.stmts == nil {
		q.stmts = map[stmtKey]*sql.Stmt{}
	}
	q.stmts[k] = st
	return st, nil
}

const schema = `
CREATE TABLE IF NOT EXISTS items (
	id              INTEGER PRIMARY KEY AUTOINCREMENT,
	source_path     TEXT    NOT NULL,
	source_size     INTEGER NOT NULL,
	source_mtime    INTEGER NOT NULL,
	root            TEXT    NOT NULL DEFAULT '',
	state           TEXT    NOT NULL,
	attempts        INTEGER NOT NULL DEFAULT 0,
	next_attempt_at INTEGER NOT NULL DEFAULT 0,
	lease_owner     TEXT    NOT NULL DEFAULT '',
	leased_at       INTEGER NOT NULL DEFAULT 0,
	created_at      INTEGER NOT NULL,
	updated_at      INTEGER NOT NULL,
	spool_path      TEXT    NOT NULL DEFAULT '',
	file_id         TEXT    NOT NULL DEFAULT '',
	study_key       TEXT    NOT NULL DEFAULT '',
	study_joined_at INTEGER NOT NULL DEFAULT 0,
	size            INTEGER NOT NULL DEFAULT 0,
	sha256          BLOB,
	manifest        BLOB,
	receipt         BLOB,
	reason          TEXT    NOT NULL DEFAULT '',
	UNIQUE (source_path, source_size, source_mtime)
);
CREATE INDEX IF NOT EXISTS items_claim ON items (state, lease_owner, next_attempt_at);
CREATE INDEX IF NOT EXISTS items_study ON items (study_key) WHERE study_key != '';
-- The items still in the pipeline, by source: the intake journal's
-- reclaim queries (queue_received.go) look up the items of a segment, and
-- the committed ones (every instance a reused segment ever held) would
-- otherwise be scanned each time. A query uses it when its WHERE has the
-- literal term state != 'committed'.
CREATE INDEX IF NOT EXISTS items_open_source ON items (source_path) WHERE state != 'committed';
CREATE TABLE IF NOT EXISTS quarantine_reported (item_id INTEGER PRIMARY KEY);
CREATE TABLE IF NOT EXISTS cursors (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
PRAGMA user_version = 1;
`

// OpenQueue opens (creating if needed) the queue database at path, takes
// the lock file path+".lock", and releases leases left by an earlier
// process. Close it with [Queue.Close].
func OpenQueue(ctx context.Context, log zerolog.Logger, path string) (*Queue, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("agent: queue dir: %w", err)
	}
	lock, err := lockFile(path + ".lock")
	if err != nil {
		return nil, err
	}
	q := &Queue{lock: lock, owner: newToken(), log: log, changed: make(chan struct{})}
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() + "?_txlock=immediate" +
		"&_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=synchronous(FULL)"
	q.db, err = sql.Open("sqlite", dsn)
	if err != nil {
		unlockFile(lock)
		return nil, fmt.Errorf("agent: open queue: %w", err)
	}
	if err := q.init(ctx); err != nil {
		q.db.Close()
		unlockFile(lock)
		return nil, err
	}
	// The pipeline's claims and the transitions whose loss on a power cut
	// only repeats work (see agent/doc.go) commit without an fsync, on one
	// connection, so that they queue here rather than on SQLite's busy
	// handler. A later synchronous=FULL commit on q.db makes them durable
	// too (the WAL is synced up to its end).
	q.fast, err = sql.Open("sqlite", strings.Replace(dsn, "synchronous(FULL)", "synchronous(NORMAL)", 1))
	if err != nil {
		q.db.Close()
		unlockFile(lock)
		return nil, fmt.Errorf("agent: open queue: %w", err)
	}
	q.fast.SetMaxOpenConns(1)
	return q, nil
}

func (q *Queue) init(ctx context.Context) error {
	if _, err := q.db.ExecContext(ctx, schema); err != nil {
		return fmt.Errorf("agent: queue schema: %w", err)
	}
	res, err := q.db.ExecContext(ctx, `UPDATE items SET lease_owner = '', leased_at = 0 WHERE lease_owner != ''`)
	if err != nil {
		return fmt.Errorf("agent: queue reclaim leases: %w", err)
	}
	if n, _ := res.RowsAffected(); n > 0 {
		q.log.Info().Int64("items", n).Msg("reclaimed items left in progress by an earlier run")
	}
	return nil
}

// Close closes the database and releases the lock. Leases still held are
// released by the next [OpenQueue].
func (q *Queue) Close() error {
	q.stmtMu.Lock()
	for k, st := range q.stmts {
		st.Close()
		delete(q.stmts, k)
	}
	q.stmtMu.Unlock()
	err := q.fast.Close()
	if dberr := q.db.Close(); err == nil {
		err = dberr
	}
	if uerr := unlockFile(q.lock); err == nil {
		err = uerr
	}
	if err != nil {
		return fmt.Errorf("agent: close queue: %w", err)
	}
	return nil
}

// Changed returns a channel that is closed at the next change that may make
// work available (a new item, a transition, a released lease).
func (q *Queue) Changed() <-chan struct{} {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.changed
}

func (q *Queue) signal() {
	q.mu.Lock()
	defer q.mu.Unlock()
	close(q.changed)
	q.changed = make(chan struct{})
}

func newToken() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Source identifies a file to queue: the same path with another size or
// modification time is another item.
type Source struct {
	// Path is the file. It may contain PHI.
	Path string
	// Size and ModTime are the file's size and modification time.
	Size    int64
	ModTime time.Time
	// Root is the watched folder the file came from, "" for `send`.
	Root string
}

// Add queues src in state seen unless an item with the same path, size and
// modification time exists. It returns the item id and whether it was new.
func (q *Queue) Add(ctx context.Context, src Source) (id int64, added bool, err error) {
	return q.add(ctx, q.db, src)
}

// AddFound is Add for a file found in a watched folder, committed without
// an fsync: the file stays in its folder until committed, so an insert a
// power cut rolls back is found again by the next scan (agent/doc.go).
func (q *Queue) AddFound(ctx context.Context, src Source) (id int64, added bool, err error) {
	return q.add(ctx, q.fast, src)
}

// add is Add committing on db: q.db (synchronous=FULL) or q.fast.
func (q *Queue) add(ctx context.Context, db *sql.DB, src Source) (id int64, added bool, err error) {
	now := time.Now().UnixNano()
	ins, err := q.stmt(ctx, db, `
		INSERT INTO items (source_path, source_size, source_mtime, root, state, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (source_path, source_size, source_mtime) DO NOTHING
		RETURNING id`)
	if err != nil {
		return 0, false, fmt.Errorf("agent: queue add: %w", err)
	}
	err = ins.QueryRowContext(ctx, src.Path, src.Size, src.ModTime.UnixNano(), src.Root, StateSeen, now, now).Scan(&id)
	if err == nil {
		q.signal()
		return id, true, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return 0, false, fmt.Errorf("agent: queue add: %w", err)
	}
	err = db.QueryRowContext(ctx, `
		SELECT id FROM items WHERE source_path = ? AND source_size = ? AND source_mtime = ?`,
		src.Path, src.Size, src.ModTime.UnixNano()).Scan(&id)
	if err != nil {
		return 0, false, fmt.Errorf("agent: queue add: %w", err)
	}
	return id, false, nil
}

const itemColumns = `id, state, source_path, source_size, source_mtime, root, attempts,
	next_attempt_at, created_at, updated_at, spool_path, file_id, study_key, size,
	sha256, manifest, receipt, reason`

type scanner interface{ Scan(dest ...any) error }

func scanItem(s scanner) (*Item, error) {
	var (
		it                        Item
		mtime, next, created, upd int64
		sha, manifest, receipt    []byte
	)
	err := s.Scan(&it.ID, &it.State, &it.SourcePath, &it.SourceSize, &mtime, &it.Root, &it.Attempts,
		&next, &created, &upd, &it.SpoolPath, &it.FileID, &it.StudyKey, &it.Size,
		&sha, &manifest, &receipt, &it.Reason)
	if err != nil {
		return nil, err
	}
	it.SourceModTime = time.Unix(0, mtime)
	if next != 0 {
		it.NextAttemptAt = time.Unix(0, next)
	}
	it.CreatedAt, it.UpdatedAt = time.Unix(0, created), time.Unix(0, upd)
	it.SHA256, it.Manifest, it.Receipt = sha, manifest, receipt
	return &it, nil
}

// Get returns the item with the given id, or an error wrapping
// [ErrNotFound].
func (q *Queue) Get(ctx context.Context, id int64) (*Item, error) {
	it, err := scanItem(q.db.QueryRowContext(ctx, `SELECT `+itemColumns+` FROM items WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("agent: queue get %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("agent: queue get %d: %w", id, err)
	}
	return it, nil
}

// Claim leases up to limit unleased items in state whose next attempt is
// due, oldest first, and returns them. Each must then be moved on by a
// transition, [Queue.Retry], [Queue.Quarantine] or [Queue.Release].
//
// A lease is not durable (every open releases them all), so claims commit
// without an fsync.
func (q *Queue) Claim(ctx context.Context, state State, limit int) ([]*Item, error) {
	now := time.Now().UnixNano()
	st, err := q.stmt(ctx, q.fast, `
		UPDATE items SET lease_owner = ?, leased_at = ?
		WHERE id IN (
			SELECT id FROM items
			WHERE state = ? AND lease_owner = '' AND next_attempt_at <= ?
			ORDER BY next_attempt_at, id LIMIT ?)
		RETURNING `+itemColumns)
	if err != nil {
		return nil, fmt.Errorf("agent: queue claim: %w", err)
	}
	rows, err := st.QueryContext(ctx, q.owner, now, state, now, limit)
	if err != nil {
		return nil, fmt.Errorf("agent: queue claim: %w", err)
	}
	defer rows.Close()
	var items []*Item
	for rows.Next() {
		it, err := scanItem(rows)
		if err != nil {
			return nil, fmt.Errorf("agent: queue claim: %w", err)
		}
		items = append(items, it)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("agent: queue claim: %w", err)
	}
	sort.Slice(items, func(i, j int) bool { return items[i].ID < items[j].ID })
	return items, nil
}

// NextDue returns when the earliest unleased item in one of states may be
// claimed, and false when there is none.
func (q *Queue) NextDue(ctx context.Context, states ...State) (time.Time, bool, error) {
	if len(states) == 0 {
		return time.Time{}, false, nil
	}
	args := make([]any, len(states))
	for i, s := range states {
		args[i] = s
	}
	ph := strings.TrimSuffix(strings.Repeat("?, ", len(states)), ", ")
	st, err := q.stmt(ctx, q.fast, `SELECT MIN(next_attempt_at) FROM items
		WHERE state IN (`+ph+`) AND lease_owner = ''`)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("agent: queue next due: %w", err)
	}
	var next sql.NullInt64
	if err := st.QueryRowContext(ctx, args...).Scan(&next); err != nil {
		return time.Time{}, false, fmt.Errorf("agent: queue next due: %w", err)
	}
	if !next.Valid {
		return time.Time{}, false, nil
	}
	return time.Unix(0, next.Int64), true, nil
}
