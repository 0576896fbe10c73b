package agent

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
)

// On-disk layout of the intake journal. Integers are little endian; each
// block ends with the CRC-32C of the bytes before it.
//
//	superblock (offset 0):  "DGIJ", version u32, id [16], size u64
//	record header (block):  "DGIR", version u32, id [16], seq u64,
//	                        payload length u64, payload CRC-32C u32,
//	                        name length u16, name
//	record payload:         the instance's Part 10 bytes, zero padded to a block
const (
	superMagic     = "DGIJ"
	recordMagic    = "DGIR"
	journalVersion = 1
	// maxRecordName bounds the file name kept in a record header.
	maxRecordName = 255
)

// errJournalCorrupt is wrapped by the errors of a journal whose
// superblock does not verify.
var errJournalCorrupt = errors.New("agent: dicom: intake journal corrupt")

// recordHeader is the decoded header block of a record.
type recordHeader struct {
	id   [16]byte
	seq  uint64
	n    int64  // payload length
	crc  uint32 // payload CRC-32C
	name string
}

// encodeSuperblock returns the superblock of a journal.
func encodeSuperblock(id [16]byte, size int64) []byte {
	b := make([]byte, blockSize)
	copy(b, superMagic)
	binary.LittleEndian.PutUint32(b[4:], journalVersion)
	copy(b[8:24], id[:])
	binary.LittleEndian.PutUint64(b[24:], uint64(size))
	binary.LittleEndian.PutUint32(b[blockSize-4:], crc32c(0, b[:blockSize-4]))
	return b
}

// parseSuperblock checks a superblock and returns the journal's id and size.
func parseSuperblock(b []byte) (id [16]byte, size int64, err error) {
	if len(b) < blockSize || string(b[:4]) != superMagic ||
		binary.LittleEndian.Uint32(b[blockSize-4:]) != crc32c(0, b[:blockSize-4]) {
		return id, 0, fmt.Errorf("%w: bad superblock", errJournalCorrupt)
	}
	if v := binary.LittleEndian.Uint32(b[4:]); v != journalVersion {
		return id, 0, fmt.Errorf("%w: version %d", errJournalCorrupt, v)
	}
	copy(id[:], b[8:24])
	size = int64(binary.LittleEndian.Uint64(b[24:]))
	if size < journalBase+4*blockSize || size%blockSize != 0 {
		return id, 0, fmt.Errorf("%w: size %d", errJournalCorrupt, size)
	}
	return id, size, nil
}

// encodeRecordHeader fills the header block b (blockSize bytes).
func encodeRecordHeader(b []byte, h recordHeader) {
	clear(b)
	copy(b, recordMagic)
	binary.LittleEndian.PutUint32(b[4:], journalVersion)
	copy(b[8:24], h.id[:])
	binary.LittleEndian.PutUint64(b[24:], h.seq)
	binary.LittleEndian.PutUint64(b[32:], uint64(h.n))
	binary.LittleEndian.PutUint32(b[40:], h.crc)
	binary.LittleEndian.PutUint16(b[44:], uint16(len(h.name)))
	copy(b[46:46+maxRecordName], h.name)
	binary.LittleEndian.PutUint32(b[blockSize-4:], crc32c(0, b[:blockSize-4]))
}

// parseRecordHeader decodes a header block of the journal id, and reports
// false for anything else (zeros, payload bytes, another journal's record).
func parseRecordHeader(b []byte, id [16]byte) (recordHeader, bool) {
	var h recordHeader
	if len(b) < blockSize || string(b[:4]) != recordMagic || !bytes.Equal(b[8:24], id[:]) ||
		binary.LittleEndian.Uint32(b[4:]) != journalVersion ||
		binary.LittleEndian.Uint32(b[blockSize-4:]) != crc32c(0, b[:blockSize-4]) {
		return h, false
	}
	h.id = id
	h.seq = binary.LittleEndian.Uint64(b[24:])
	h.n = int64(binary.LittleEndian.Uint64(b[32:]))
	h.crc = binary.LittleEndian.Uint32(b[40:])
	l := int(binary.LittleEndian.Uint16(b[44:]))
	if l == 0 || l > maxRecordName || h.n < 0 {
		return h, false
	}
	h.name = string(b[46 : 46+l])
	return h, true
}

// scannedRecord is a complete record found by scan.
type scannedRecord struct {
	recordHeader
	off int64
}

// journalReader reads a journal's records through the page cache, for
// the recovery at start-up.
type journalReader struct {
	f    *os.File
	id   [16]byte
	size int64
}

// reader opens the journal for the recovery scan.
func (j *intakeJournal) reader() (*journalReader, error) {
	f, err := os.Open(j.path)
	if err != nil {
		return nil, fmt.Errorf("agent: dicom: intake journal: %w", pathless(err))
	}
	return &journalReader{f: f, id: j.id, size: j.size}, nil
}

// close closes the reader.
func (r *journalReader) close() { r.f.Close() }

// scan returns the complete records (header and payload checksum verify)
// with a sequence number above after, in sequence order, and the highest
// sequence number of any record header found. It walks the ring block by
// block and skips over each valid header's record: every pass over the
// ring writes contiguously from journalBase, so the region a surviving
// header spans holds no newer record. A header can only verify if it was
// written by this journal (it carries the journal's random id), so
// instance data that happens to look like a header is never taken for one.
func (r *journalReader) scan(after uint64) (recs []scannedRecord, maxSeq uint64, err error) {
	hdr := make([]byte, blockSize)
	for off := int64(journalBase); off+blockSize <= r.size; {
		if _, err := r.f.ReadAt(hdr, off); err != nil {
			return nil, 0, fmt.Errorf("agent: dicom: intake journal scan: %w", pathless(err))
		}
		h, ok := parseRecordHeader(hdr, r.id)
		if !ok || off+span(h.n) > r.size {
			off += blockSize
			continue
		}
		maxSeq = max(maxSeq, h.seq)
		if h.seq > after {
			sum, err := r.checksum(off, h.n)
			if err != nil {
				return nil, 0, err
			}
			if sum == h.crc {
				recs = append(recs, scannedRecord{h, off})
			}
		}
		off += span(h.n)
	}
	sort.Slice(recs, func(a, b int) bool { return recs[a].seq < recs[b].seq })
	return recs, maxSeq, nil
}

// checksum returns the CRC-32C of the n payload bytes of the record at off.
func (r *journalReader) checksum(off, n int64) (uint32, error) {
	var sum uint32
	buf := make([]byte, 256<<10)
	sr := io.NewSectionReader(r.f, off+blockSize, n)
	for {
		k, err := sr.Read(buf)
		sum = crc32c(sum, buf[:k])
		if errors.Is(err, io.EOF) {
			return sum, nil
		}
		if err != nil {
			return 0, fmt.Errorf("agent: dicom: intake journal scan: %w", pathless(err))
		}
	}
}

// payload returns a reader of a scanned record's payload.
func (r *journalReader) payload(rec scannedRecord) io.Reader {
	return io.NewSectionReader(r.f, rec.off+blockSize, rec.n)
}
