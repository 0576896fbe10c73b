package agent

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// segmentPrefix starts the file name of a segment: seg-<number>.
const segmentPrefix = "seg-"

// segment is one file of the intake journal.
type segment struct {
	num   int
	path  string
	f     *os.File // direct I/O where the platform has it
	id    [16]byte
	size  int64
	gsync *groupSync

	// Guarded by the journal's mu.
	head      int64     // offset for the next record while current
	pending   int       // records reserved and not yet covered by a checkpoint
	isFree    bool      // on the journal's free list
	freeSince time.Time // when it last joined the free list
	failed    bool      // a write or flush failed: no more records, no reuse
	removed   bool      // deleted by [intakeJournal.shrink]: never used again
}

// segmentName returns the file name of segment num.
func segmentName(num int) string { return fmt.Sprintf("%s%08d", segmentPrefix, num) }

// parseSegmentName returns the number of a segment file name.
func parseSegmentName(name string) (int, bool) {
	s, ok := strings.CutPrefix(name, segmentPrefix)
	if !ok || len(s) != 8 {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil && n > 0
}

// createSegment writes a new segment of size bytes (a fresh superblock,
// then zeros) under a temporary name, syncs it and renames it into dir.
// Zeros are written with direct I/O where possible: no copy through the
// page cache.
func createSegment(dir string, num int, size int64) (*segment, error) {
	var id [16]byte
	rand.Read(id[:])
	path := filepath.Join(dir, segmentName(num))
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("agent: dicom: create journal segment: %w", pathless(err))
	}
	f.Close()
	defer os.Remove(tmp)
	f, err = openDirect(tmp)
	if err != nil {
		return nil, fmt.Errorf("agent: dicom: create journal segment: %w", pathless(err))
	}
	buf := alignedBlock(1 << 20)
	copy(buf, encodeSuperblock(id, size, num))
	for off := int64(0); off < size && err == nil; off += int64(len(buf)) {
		err = writeAtv(f, [][]byte{buf[:min(int64(len(buf)), size-off)]}, off)
		clear(buf[:blockSize])
	}
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		err = syncDir(dir)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("agent: dicom: create journal segment: %w", pathless(err))
	}
	sg := &segment{num: num, path: path, f: f, id: id, size: size}
	sg.gsync = newGroupSync(func() error { return datasync(f) })
	return sg, nil
}

// openSegment opens the segment at path, whose superblock must verify and
// name num.
func openSegment(path string, num int) (*segment, error) {
	id, size, err := readSuperblock(path, num)
	if err != nil {
		return nil, err
	}
	f, err := openDirect(path)
	if err != nil {
		return nil, fmt.Errorf("agent: dicom: intake journal: %w", pathless(err))
	}
	if fi, err := f.Stat(); err != nil || fi.Size() < size {
		f.Close()
		return nil, fmt.Errorf("agent: dicom: intake journal: %w: segment shorter than its superblock says", errJournalCorrupt)
	}
	sg := &segment{num: num, path: path, f: f, id: id, size: size}
	sg.gsync = newGroupSync(func() error { return datasync(f) })
	return sg, nil
}

// readSuperblock reads and checks the superblock of the segment at path.
func readSuperblock(path string, num int) (id [16]byte, size int64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return id, 0, fmt.Errorf("agent: dicom: intake journal: %w", pathless(err))
	}
	defer f.Close()
	return readSuperblockFrom(f, num)
}

// readSuperblockFrom reads and checks the superblock of segment num open
// as f.
func readSuperblockFrom(f io.ReaderAt, num int) (id [16]byte, size int64, err error) {
	sb := make([]byte, blockSize)
	if _, err := f.ReadAt(sb, 0); err != nil {
		return id, 0, fmt.Errorf("agent: dicom: intake journal: %w: %w", errJournalCorrupt, pathless(err))
	}
	id, size, n, err := parseSuperblock(sb)
	if err == nil && n != num {
		err = fmt.Errorf("%w: segment %d names itself %d", errJournalCorrupt, num, n)
	}
	return id, size, err
}

// scannedRecord is a complete record found by scan.
type scannedRecord struct {
	recordHeader
	seg *segment
	off int64
}

// scan returns the complete records (header and payload checksum verify)
// of the segment with a sequence number above after, and the highest
// sequence number of any record header found. It reads through the page
// cache, walks the segment block by block and skips over each valid
// header's record: every use of a segment writes contiguously from
// journalBase, so the region a surviving header spans holds no newer
// record. A header can only verify if it was written into this segment
// (it carries the segment's random id), so instance data that happens to
// look like a header is never taken for one.
func (sg *segment) scan(after uint64) (recs []scannedRecord, maxSeq uint64, err error) {
	f, err := os.Open(sg.path)
	if err != nil {
		return nil, 0, fmt.Errorf("agent: dicom: intake journal scan: %w", pathless(err))
	}
	defer f.Close()
	hdr := make([]byte, blockSize)
	for off := int64(journalBase); off+blockSize <= sg.size; {
		if _, err := f.ReadAt(hdr, off); err != nil {
			return nil, 0, fmt.Errorf("agent: dicom: intake journal scan: %w", pathless(err))
		}
		h, ok := parseRecordHeader(hdr, sg.id)
		if !ok || off+span(h.n) > sg.size {
			off += blockSize
			continue
		}
		maxSeq = max(maxSeq, h.seq)
		if h.seq > after {
			sum, err := payloadCRC(io.NewSectionReader(f, off+blockSize, h.n))
			if err != nil {
				return nil, 0, fmt.Errorf("agent: dicom: intake journal scan: %w", pathless(err))
			}
			if sum == h.crc {
				recs = append(recs, scannedRecord{h, sg, off})
			}
		}
		off += span(h.n)
	}
	sort.Slice(recs, func(a, b int) bool { return recs[a].seq < recs[b].seq })
	return recs, maxSeq, nil
}

// payloadCRC returns the CRC-32C of what r holds.
func payloadCRC(r io.Reader) (uint32, error) {
	var sum uint32
	buf := make([]byte, 256<<10)
	for {
		k, err := r.Read(buf)
		sum = crc32c(sum, buf[:k])
		if errors.Is(err, io.EOF) {
			return sum, nil
		}
		if err != nil {
			return 0, err
		}
	}
}
