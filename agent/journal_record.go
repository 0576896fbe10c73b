package agent

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// On-disk layout of an intake journal segment. Integers are little
// endian; each block ends with the CRC-32C of the bytes before it.
//
//	superblock (offset 0):  "DGIS", version u32, id [16], size u64,
//	                        segment number u64
//	record header (block):  "DGIR", version u32, id [16], seq u64,
//	                        payload length u64, payload CRC-32C u32
//	record payload:         the instance's Part 10 bytes, zero padded to a block
const (
	superMagic     = "DGIS"
	recordMagic    = "DGIR"
	journalVersion = 2
)

// errJournalCorrupt is wrapped by the errors of a journal whose
// superblock does not verify.
var errJournalCorrupt = errors.New("agent: dicom: intake journal corrupt")

// recordHeader is the decoded header block of a record.
type recordHeader struct {
	id  [16]byte
	seq uint64
	n   int64  // payload length
	crc uint32 // payload CRC-32C
}

// encodeSuperblock returns the superblock of segment num.
func encodeSuperblock(id [16]byte, size int64, num int) []byte {
	b := make([]byte, blockSize)
	copy(b, superMagic)
	binary.LittleEndian.PutUint32(b[4:], journalVersion)
	copy(b[8:24], id[:])
	binary.LittleEndian.PutUint64(b[24:], uint64(size))
	binary.LittleEndian.PutUint64(b[32:], uint64(num))
	binary.LittleEndian.PutUint32(b[blockSize-4:], crc32c(0, b[:blockSize-4]))
	return b
}

// parseSuperblock checks a superblock and returns the segment's id, size
// and number.
func parseSuperblock(b []byte) (id [16]byte, size int64, num int, err error) {
	if len(b) < blockSize || string(b[:4]) != superMagic ||
		binary.LittleEndian.Uint32(b[blockSize-4:]) != crc32c(0, b[:blockSize-4]) {
		return id, 0, 0, fmt.Errorf("%w: bad superblock", errJournalCorrupt)
	}
	if v := binary.LittleEndian.Uint32(b[4:]); v != journalVersion {
		return id, 0, 0, fmt.Errorf("%w: version %d", errJournalCorrupt, v)
	}
	copy(id[:], b[8:24])
	size = int64(binary.LittleEndian.Uint64(b[24:]))
	if size < journalBase+4*blockSize || size%blockSize != 0 {
		return id, 0, 0, fmt.Errorf("%w: size %d", errJournalCorrupt, size)
	}
	return id, size, int(binary.LittleEndian.Uint64(b[32:])), nil
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
	binary.LittleEndian.PutUint32(b[blockSize-4:], crc32c(0, b[:blockSize-4]))
}

// parseRecordHeader decodes a header block of the segment id, and reports
// false for anything else (zeros, payload bytes, another segment's record).
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
	if h.n < 0 {
		return h, false
	}
	return h, true
}
