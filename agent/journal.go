package agent

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"
)

const (
	// defaultSegmentSize is the size of an intake journal segment.
	defaultSegmentSize = 32 << 20
	// maxSegments bounds the segments of a journal (1 GiB at the default
	// size); with every one in use, instances take the file path.
	maxSegments = 32
	// spareSegments is how many free segments the SCP keeps ready. It is
	// also how many free segments [intakeJournal.shrink] keeps: see
	// shrinkAfter.
	spareSegments = 2
	// shrinkAfter is how long a free segment beyond the spareSegments
	// next in line stays unused before the SCP deletes it, giving back the
	// space a backlog took (up to maxSegments while the relay was out of
	// reach). Intake in a steady state uses the current segment, the
	// segments whose items the pipeline has not yet committed, and the
	// spareSegments free ones that the segment upkeep restores whenever a
	// reservation takes one (reusing the segments no item needs, creating
	// new ones only when none is): exactly what is left after a shrink,
	// which therefore never takes the journal below what the upkeep would
	// grow it back to. Only a free segment no reservation took for this
	// long goes, so that a journal whose segments in use vary (uploads
	// lagging behind a burst) does not delete a segment only to create
	// and zero-fill it again minutes later; and a reservation never waits
	// for one anyway, one spare being left while the upkeep grows.
	shrinkAfter = 10 * time.Minute
	// journalBase is where records start in a segment, after the
	// superblock.
	journalBase = blockSize
	// journalDirName is the folder of the received folder holding the
	// journal's segments (a folder, so that listing the received files
	// skips it).
	journalDirName = ".journal"
)

var (
	// errJournalClosed is returned by a reservation after the journal
	// closed.
	errJournalClosed = errors.New("agent: dicom: intake journal closed")
	// errNoSegment is returned by a reservation when no free segment is
	// ready: the instance then takes the file path.
	errNoSegment = errors.New("agent: dicom: intake journal: no free segment")
)

// intakeJournal is the SCP's intake journal, the storage of received
// instances of up to [maxJournalled] bytes: preallocated segment files
// (a superblock, then records) into which each instance is appended with
// a single direct write and made durable by an fdatasync shared with the
// instances of the other associations (group commit). A segment's blocks
// are all written when it is created and only overwritten afterwards, so
// that fdatasync never has file system metadata to commit.
//
// A record is its header block (sequence number, payload length and
// CRC-32C, the segment's random id and a CRC-32C of the header) followed
// by the payload, the instance's Part 10 bytes, padded to a block. The
// instance's queue item points at its record ([segmentSource]) and the
// pipeline reads it from there. A checkpoint commits the queue durably
// together with the highest sequence number whose items are in it (queue
// cursor [journalCursor]); a segment is reused once a checkpoint covers
// its records and every item pointing into it is committed (the SCP
// copies a quarantined instance out to a file first), and deleted once
// it is a surplus free segment ([intakeJournal.shrink]). See agent/doc.go
// (DICOM network intake).
type intakeJournal struct {
	dir   string
	size  int64         // of a new segment
	zero  []byte        // one aligned zero block, voids abandoned records
	ready chan struct{} // a record finished; capacity 1
	want  chan struct{} // a free segment was taken; capacity 1

	mu     sync.Mutex
	segs   []*segment       // +checklocks:mu; every segment, by number
	avail  []*segment       // +checklocks:mu; free for reuse, next first
	cur    *segment         // +checklocks:mu; being appended to, or nil
	live   []*journalRecord // +checklocks:mu; reserved and not yet freed, oldest first
	next   uint64           // +checklocks:mu; next sequence number
	closed bool             // +checklocks:mu
}

// journalRecord is one record of a segment.
type journalRecord struct {
	seq  uint64
	seg  *segment
	off  int64
	span int64 // header block and padded payload

	finished bool // guarded by the journal's mu
}

// journalDir is the intake journal's folder of a received folder.
func journalDir(received string) string { return filepath.Join(received, journalDirName) }

// openJournal opens the segments in dir (creating dir), which new
// segments of size bytes join. A segment whose superblock does not
// verify is an error: its records cannot be trusted, and starting over
// would drop instances already acknowledged. Every segment opened is
// closed (in use) until [intakeJournal.release] frees it.
func openJournal(dir string, size int64) (*intakeJournal, error) {
	if size < journalBase+8*blockSize || size%blockSize != 0 {
		return nil, fmt.Errorf("agent: dicom: intake journal: segment size %d", size)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("agent: dicom: intake journal: %w", pathless(err))
	}
	j := &intakeJournal{dir: dir, size: size, zero: alignedBlock(blockSize),
		ready: make(chan struct{}, 1), want: make(chan struct{}, 1), next: 1}
	es, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("agent: dicom: intake journal: %w", pathless(err))
	}
	for _, e := range es {
		if !e.Type().IsRegular() {
			continue
		}
		num, ok := parseSegmentName(e.Name())
		if !ok {
			// A segment whose creation a crash cut off: nothing
			// acknowledged is in it.
			if filepath.Ext(e.Name()) == ".tmp" {
				os.Remove(filepath.Join(dir, e.Name()))
			}
			continue
		}
		sg, err := openSegment(filepath.Join(dir, e.Name()), num)
		if err != nil {
			j.close()
			return nil, err
		}
		j.segs = append(j.segs, sg)
	}
	sort.Slice(j.segs, func(a, b int) bool { return j.segs[a].num < j.segs[b].num })
	return j, nil
}

// start sets the next sequence number after recovery.
func (j *intakeJournal) start(next uint64) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.next = next
}

// span is the segment space of a record with n payload bytes.
func span(n int64) int64 { return blockSize + (n+blockSize-1)&^(blockSize-1) }

// maxPayload is the largest payload a record may have: a quarter of a
// segment, so that a segment holds a few instances at least.
func (j *intakeJournal) maxPayload() int64 { return (j.size-journalBase)/4 - blockSize }

// reserve takes segment space for a record of n payload bytes: at the
// head of the current segment, or at the start of the next free one. It
// returns [errNoSegment] at once when none is free, so that the instance
// takes the file path rather than wait.
func (j *intakeJournal) reserve(n int64) (*journalRecord, error) {
	if n > j.maxPayload() {
		return nil, fmt.Errorf("agent: dicom: intake journal: record of %d bytes too large", n)
	}
	sp := span(n)
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return nil, errJournalClosed
	}
	if j.cur == nil || j.cur.head+sp > j.cur.size {
		j.cur = nil
		if len(j.avail) == 0 {
			j.wake()
			return nil, errNoSegment
		}
		j.cur, j.avail = j.avail[0], j.avail[1:]
		j.cur.head, j.cur.isFree = journalBase, false
		j.wake()
		if j.cur.head+sp > j.cur.size {
			// A segment of an earlier, smaller size.
			return nil, errNoSegment
		}
	}
	sg := j.cur
	rec := &journalRecord{seq: j.next, seg: sg, off: sg.head, span: sp}
	j.next++
	sg.head += sp
	sg.pending++
	j.live = append(j.live, rec)
	return rec, nil
}

// wake tells the SCP's segment upkeep that a free segment was taken.
func (j *intakeJournal) wake() {
	select {
	case j.want <- struct{}{}:
	default:
	}
}

// write writes the record of the instance held in c (not yet durable:
// see [segment.sync]).
func (j *intakeJournal) write(rec *journalRecord, c *chunks) error {
	hdr := alignedBlock(blockSize)
	encodeRecordHeader(hdr, recordHeader{id: rec.seg.id, seq: rec.seq, n: c.n, crc: c.crc()})
	if err := writeAtv(rec.seg.f, append([][]byte{hdr}, c.padded()...), rec.off); err != nil {
		return fmt.Errorf("agent: dicom: intake journal write: %w", pathless(err))
	}
	return nil
}

// finish hands rec to the checkpoint: ok says that its instance is
// queued and answered with a success; otherwise the record is abandoned
// and its header voided, best effort and unsynced: a record that survives
// a crash anyway is queued by the recovery, a duplicate of what the
// sender sends again.
func (j *intakeJournal) finish(rec *journalRecord, ok bool) {
	if !ok {
		_ = writeAtv(rec.seg.f, [][]byte{j.zero}, rec.off)
	}
	j.mu.Lock()
	rec.finished = true
	j.mu.Unlock()
	select {
	case j.ready <- struct{}{}:
	default:
	}
}

// finishedPrefix returns the finished records at the front of the
// journal, oldest first: the ones a checkpoint may cover.
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

// free drops the n oldest records, which a checkpoint covered.
func (j *intakeJournal) free(n int) {
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, r := range j.live[:n] {
		r.seg.pending--
	}
	clear(j.live[:n])
	j.live = j.live[n:]
}

// retire stops appending to a segment whose write or flush failed: a
// failed fdatasync may have dropped the data it was to write, and every
// later flush of the file fails too. The segment keeps its durable
// records for their items and is not reused before the next start.
func (j *intakeJournal) retire(sg *segment) {
	j.mu.Lock()
	defer j.mu.Unlock()
	sg.failed = true
	if j.cur == sg {
		j.cur = nil
	}
}

// idle returns the segments that are neither free nor current and whose
// records a checkpoint covered: the ones that may be reused once no item
// needs them.
func (j *intakeJournal) idle() []*segment {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []*segment
	for _, sg := range j.segs {
		if sg != j.cur && !sg.isFree && !sg.failed && sg.pending == 0 {
			out = append(out, sg)
		}
	}
	return out
}

// release makes an idle segment free for reuse.
func (j *intakeJournal) release(sg *segment) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if sg == j.cur || sg.isFree || sg.failed || sg.removed || sg.pending != 0 {
		return
	}
	// First in line: its blocks were written lately, and new segments
	// stay spare for when reuse cannot keep up.
	sg.isFree, sg.freeSince = true, time.Now()
	j.avail = append([]*segment{sg}, j.avail...)
}

// spares returns how many free segments are ready and how many segments
// there are.
func (j *intakeJournal) spares() (free, all int) {
	j.mu.Lock()
	defer j.mu.Unlock()
	return len(j.avail), len(j.segs)
}

// grow creates a new segment and adds it to the free ones. One caller at
// a time: the SCP's prepare, then its segment upkeep.
func (j *intakeJournal) grow() error {
	j.mu.Lock()
	num := 1
	if len(j.segs) > 0 {
		num = j.segs[len(j.segs)-1].num + 1
	}
	j.mu.Unlock()
	sg, err := createSegment(j.dir, num, j.size)
	if err != nil {
		return err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		sg.f.Close()
		return errJournalClosed
	}
	sg.isFree, sg.freeSince = true, time.Now()
	j.segs = append(j.segs, sg)
	j.avail = append(j.avail, sg)
	return nil
}

// shrink deletes the free segments that have been free for idle or
// longer, except the keep next in line (the first of the free list), and
// returns how many it deleted and their size in bytes. Only free
// segments go: their records are all covered by a durable checkpoint, no
// item needs them (the SCP releases a segment only then: see
// [SCP.reclaim]), and a reservation can no longer take one once
// it is off the free list, which happens under mu, before its file is
// closed and unlinked. A segment whose file cannot be unlinked is still
// dropped for this run (its file is closed) and comes back at the next
// start as a segment like any other.
//
// Crash safety: nothing needs to be written before the unlink, as a
// free segment holds nothing the next start needs; if a crash (or a power
// cut before the folder's metadata reached the disk) leaves the file
// there, [openJournal] opens it as a segment whose records the cursor
// covers, and the start-up's reclaim frees it again. Segment numbers may
// then have gaps, which openJournal does not mind (it sorts the numbers
// it finds); [intakeJournal.grow] numbers new segments after the highest,
// and a number used again names a file with a new random id, whose
// records no older source can match. One caller at a time, as grow.
func (j *intakeJournal) shrink(keep int, idle time.Duration, now time.Time) (n int, freed int64, err error) {
	j.mu.Lock()
	if j.closed {
		j.mu.Unlock()
		return 0, 0, nil
	}
	var gone []*segment
	avail := make([]*segment, 0, len(j.avail))
	for i, sg := range j.avail {
		if i < keep || now.Sub(sg.freeSince) < idle {
			avail = append(avail, sg)
			continue
		}
		sg.isFree, sg.removed = false, true
		gone = append(gone, sg)
	}
	if len(gone) > 0 {
		j.avail = avail
		segs := make([]*segment, 0, len(j.segs))
		for _, sg := range j.segs {
			if !sg.removed {
				segs = append(segs, sg)
			}
		}
		j.segs = segs
	}
	j.mu.Unlock()

	// No writer holds a free segment's file: its last records were
	// written, flushed and freed before it was released.
	for _, sg := range gone {
		sg.f.Close()
		if rerr := os.Remove(sg.path); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			err = errors.Join(err, fmt.Errorf("agent: dicom: remove journal segment %d: %w", sg.num, pathless(rerr)))
			continue
		}
		n++
		freed += sg.size
	}
	return n, freed, err
}

// segments returns every segment, by number.
func (j *intakeJournal) segments() []*segment {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]*segment(nil), j.segs...)
}

// close fails the reservations to come and closes the segments.
func (j *intakeJournal) close() error {
	j.mu.Lock()
	j.closed = true
	segs := j.segs
	j.mu.Unlock()
	var err error
	for _, sg := range segs {
		if cerr := sg.f.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("agent: dicom: intake journal: %w", pathless(cerr))
		}
	}
	return err
}
