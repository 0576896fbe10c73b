package agent

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

const (
	// defaultJournalSize is the size of the SCP's intake journal file.
	defaultJournalSize = 64 << 20
	// journalBase is where records start, after the superblock.
	journalBase = blockSize
	// journalDirName is the folder of the received folder holding the
	// journal (a folder, so that listing the received files skips it).
	journalDirName = ".journal"
	// journalFileName is the journal in that folder.
	journalFileName = "intake"
)

// errJournalClosed is returned by a reservation after the journal closed.
var errJournalClosed = errors.New("agent: dicom: intake journal closed")

// intakeJournal is the SCP's intake journal: one preallocated file (a
// superblock, then a ring of records) into which each received instance
// is written with a single direct write and made durable by an fdatasync
// shared with the instances of the other associations (group commit).
// The file's blocks are all written at creation and only overwritten
// afterwards, so that fdatasync never has file system metadata to commit.
//
// A record is its header block (sequence number, payload length and
// CRC-32C, the name of the instance's file, the journal's random id and a
// CRC-32C of the header) followed by the payload, the instance's Part 10
// bytes, padded to a block. The SCP also writes each instance as a
// received file and queues it without an fsync; a checkpoint later
// fsyncs those files and commits the queue durably together with the
// highest sequence number it covers (queue cursor [journalCursor]), and
// only then frees the records. See agent/doc.go (DICOM network intake).
type intakeJournal struct {
	f     *os.File // direct I/O where the platform has it
	path  string
	id    [16]byte
	size  int64
	gsync *groupSync
	zero  []byte        // one aligned zero block, voids abandoned records
	ready chan struct{} // a record finished; capacity 1

	mu     sync.Mutex
	space  sync.Cond        // on mu; broadcast when records are freed or the journal closes
	head   int64            // +checklocks:mu; offset for the next record
	live   []*journalRecord // +checklocks:mu; reserved and not yet freed, oldest first
	next   uint64           // +checklocks:mu; next sequence number
	closed bool             // +checklocks:mu
}

// journalRecord is one record of the ring.
type journalRecord struct {
	seq  uint64
	off  int64
	span int64  // header block and padded payload
	name string // file name of the instance in the received folder

	finished bool     // guarded by the journal's mu
	file     *os.File // guarded by the journal's mu; the received file until the checkpoint, nil when abandoned
}

// journalPath is the intake journal of a received folder.
func journalPath(received string) string {
	return filepath.Join(received, journalDirName, journalFileName)
}

// openJournal opens the journal at path, creating it with size bytes
// when it does not exist. A journal that exists but whose superblock
// does not verify is an error: its records cannot be trusted, and
// starting over would drop instances already acknowledged.
func openJournal(path string, size int64) (*intakeJournal, error) {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		if err := createJournal(path, size); err != nil {
			return nil, err
		}
	}
	sb := make([]byte, blockSize)
	rf, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("agent: dicom: intake journal: %w", pathless(err))
	}
	_, err = rf.ReadAt(sb, 0)
	rf.Close()
	if err != nil {
		return nil, fmt.Errorf("agent: dicom: intake journal: %w", pathless(err))
	}
	id, size, err := parseSuperblock(sb)
	if err != nil {
		return nil, err
	}
	f, err := openDirect(path)
	if err != nil {
		return nil, fmt.Errorf("agent: dicom: intake journal: %w", pathless(err))
	}
	if fi, err := f.Stat(); err != nil || fi.Size() < size {
		f.Close()
		return nil, fmt.Errorf("agent: dicom: intake journal: %w: shorter than its superblock says", errJournalCorrupt)
	}
	j := &intakeJournal{f: f, path: path, id: id, size: size, zero: alignedBlock(blockSize),
		ready: make(chan struct{}, 1), head: journalBase, next: 1}
	j.gsync = newGroupSync(func() error { return datasync(f) })
	j.space.L = &j.mu
	return j, nil
}

// createJournal writes a new journal of size bytes (zeros after a fresh
// superblock) under a temporary name, syncs it and renames it into place.
func createJournal(path string, size int64) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("agent: dicom: intake journal: %w", pathless(err))
	}
	var id [16]byte
	rand.Read(id[:])
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("agent: dicom: intake journal: %w", pathless(err))
	}
	defer os.Remove(tmp)
	buf := make([]byte, 1<<20)
	copy(buf, encodeSuperblock(id, size))
	for off := int64(0); off < size && err == nil; off += int64(len(buf)) {
		_, err = f.Write(buf[:min(int64(len(buf)), size-off)])
		clear(buf[:blockSize])
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		return fmt.Errorf("agent: dicom: create intake journal: %w", pathless(err))
	}
	if err := syncDir(dir); err != nil {
		return err
	}
	return syncDir(filepath.Dir(dir))
}

// start sets the next sequence number after recovery.
func (j *intakeJournal) start(next uint64) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.next = next
}

// span is the ring space of a record with n payload bytes.
func span(n int64) int64 { return blockSize + (n+blockSize-1)&^(blockSize-1) }

// maxPayload is the largest payload a record may have: a quarter of the
// ring, so that one large instance cannot starve the others.
func (j *intakeJournal) maxPayload() int64 { return (j.size-journalBase)/4 - blockSize }

// reserve takes ring space for a record of n payload bytes that will be
// the instance file name, waiting for a checkpoint to free space if the
// ring is full, until ctx is done.
func (j *intakeJournal) reserve(ctx context.Context, name string, n int64) (*journalRecord, error) {
	sp := span(n)
	if n > j.maxPayload() {
		return nil, fmt.Errorf("agent: dicom: intake journal: record of %d bytes too large", n)
	}
	stop := context.AfterFunc(ctx, func() {
		j.mu.Lock()
		defer j.mu.Unlock()
		j.space.Broadcast()
	})
	defer stop()
	j.mu.Lock()
	defer j.mu.Unlock()
	for {
		if j.closed {
			return nil, errJournalClosed
		}
		if off, ok := j.fit(sp); ok {
			rec := &journalRecord{seq: j.next, off: off, span: sp, name: name}
			j.next++
			j.head = off + sp
			j.live = append(j.live, rec)
			return rec, nil
		}
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("agent: dicom: intake journal full: %w", err)
		}
		j.space.Wait()
	}
}

// fit returns where a record of sp bytes goes, if it fits now. Records
// follow each other from journalBase; one that does not fit before the
// end of the file goes back to journalBase (each pass over the ring is
// contiguous from journalBase, which the recovery scan relies on).
//
// +checklocks:j.mu
func (j *intakeJournal) fit(sp int64) (int64, bool) {
	if len(j.live) == 0 {
		return journalBase, true
	}
	tail := j.live[0].off
	if j.head > tail {
		if j.head+sp <= j.size {
			return j.head, true
		}
		if journalBase+sp <= tail {
			return journalBase, true
		}
		return 0, false
	}
	if j.head+sp <= tail {
		return j.head, true
	}
	return 0, false
}

// write writes the record of the instance held in c and returns once it
// is on stable storage.
func (j *intakeJournal) write(rec *journalRecord, c *chunks) error {
	hdr := alignedBlock(blockSize)
	encodeRecordHeader(hdr, recordHeader{id: j.id, seq: rec.seq, n: c.n, crc: c.crc(), name: rec.name})
	if err := writeAtv(j.f, append([][]byte{hdr}, c.padded()...), rec.off); err != nil {
		return fmt.Errorf("agent: dicom: intake journal write: %w", pathless(err))
	}
	if err := j.gsync.wait(); err != nil {
		return fmt.Errorf("agent: dicom: intake journal sync: %w", pathless(err))
	}
	return nil
}

// finish hands rec to the checkpoint: f is its received file, already
// queued; nil abandons the record (the sender is answered with a
// failure), whose header is then voided, best effort and unsynced: a
// record that survives a crash anyway is queued by the recovery, a
// duplicate of what the sender sends again.
func (j *intakeJournal) finish(rec *journalRecord, f *os.File) {
	if f == nil {
		_ = writeAtv(j.f, [][]byte{j.zero}, rec.off)
	}
	j.mu.Lock()
	rec.finished, rec.file = true, f
	j.mu.Unlock()
	select {
	case j.ready <- struct{}{}:
	default:
	}
}

// finishedPrefix returns the finished records at the front of the ring,
// oldest first: the ones a checkpoint may cover.
func (j *intakeJournal) finishedPrefix() []*journalRecord {
	j.mu.Lock()
	defer j.mu.Unlock()
	n := 0
	for n < len(j.live) && j.live[n].finished {
		n++
	}
	return append([]*journalRecord(nil), j.live[:n]...)
}

// pending returns how many records are live (reserved, not yet freed).
func (j *intakeJournal) pending() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return len(j.live)
}

// usage returns the ring space held by live records and the ring's size.
func (j *intakeJournal) usage() (used, total int64) {
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, r := range j.live {
		used += r.span
	}
	return used, j.size - journalBase
}

// free drops the n oldest records, which a checkpoint made redundant,
// and wakes the reservations waiting for space.
func (j *intakeJournal) free(n int) {
	j.mu.Lock()
	defer j.mu.Unlock()
	clear(j.live[:n])
	j.live = j.live[n:]
	j.space.Broadcast()
}

// close fails the reservations in progress and closes the file.
func (j *intakeJournal) close() error {
	j.mu.Lock()
	j.closed = true
	j.space.Broadcast()
	j.mu.Unlock()
	if err := j.f.Close(); err != nil {
		return fmt.Errorf("agent: dicom: intake journal: %w", pathless(err))
	}
	return nil
}
