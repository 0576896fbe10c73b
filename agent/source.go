package agent

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// segmentSource returns the queue source path of the record seq at off of
// the segment at segPath: <segment>@<offset>.<seq>. It names no file (the
// folder code that treats a source as a file finds nothing there and
// leaves it alone); [openSource] reads the record. The sequence number
// makes it unique for good, as a reused segment holds new records at the
// same offsets.
func segmentSource(segPath string, off int64, seq uint64) string {
	return segPath + "@" + strconv.FormatInt(off, 10) + "." + strconv.FormatUint(seq, 10)
}

// segmentRange returns the bounds [lo, hi) of the source paths pointing
// into the segment at segPath.
func segmentRange(segPath string) (lo, hi string) { return segPath + "@", segPath + "A" }

// segmentRef is a queue source in an intake journal segment.
type segmentRef struct {
	path string // of the segment
	num  int
	off  int64
	seq  uint64
}

// parseSegmentSource returns the record an item's source points at, if
// it is one: a received instance (its root is the received folder) in a
// segment of the received folder's journal.
func parseSegmentSource(it *Item) (segmentRef, bool) {
	var ref segmentRef
	if it.Root == "" || filepath.Dir(it.SourcePath) != journalDir(it.Root) {
		return ref, false
	}
	name, loc, ok := strings.Cut(filepath.Base(it.SourcePath), "@")
	if !ok {
		return ref, false
	}
	offs, seqs, ok := strings.Cut(loc, ".")
	if !ok {
		return ref, false
	}
	num, ok := parseSegmentName(name)
	off, err1 := strconv.ParseInt(offs, 10, 64)
	seq, err2 := strconv.ParseUint(seqs, 10, 64)
	if !ok || err1 != nil || err2 != nil || off < journalBase || off%blockSize != 0 {
		return ref, false
	}
	return segmentRef{path: filepath.Join(journalDir(it.Root), name), num: num, off: off, seq: seq}, true
}

// openSource opens the source of an item for processing: its file, which
// must still have the size and modification time it was queued with, or
// its record in the SCP's intake journal, which must still be the one it
// was queued from. A source that is gone or changed is a
// [PermanentError].
func openSource(it *Item) (io.ReadCloser, error) {
	if ref, ok := parseSegmentSource(it); ok {
		return openRecord(ref, it.SourceSize)
	}
	src, err := os.Open(it.SourcePath)
	if errors.Is(err, os.ErrNotExist) {
		return nil, Permanent("source file missing", nil)
	}
	if err != nil {
		return nil, fmt.Errorf("agent: open source: %w", pathless(err))
	}
	fi, err := src.Stat()
	if err != nil {
		src.Close()
		return nil, fmt.Errorf("agent: stat source: %w", pathless(err))
	}
	if fi.Size() != it.SourceSize || !fi.ModTime().Equal(it.SourceModTime) {
		src.Close()
		return nil, Permanent("source file changed after it was queued", nil)
	}
	return src, nil
}

// openRecord opens the payload of n bytes of the journal record ref. The
// record header must verify and hold ref's sequence number and n; the
// payload's checksum is verified as it is read, the last read failing
// with a [PermanentError] if it does not match.
func openRecord(ref segmentRef, n int64) (io.ReadCloser, error) {
	f, err := os.Open(ref.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, Permanent("received instance missing from the intake journal", nil)
	}
	if err != nil {
		return nil, fmt.Errorf("agent: open source: %w", pathless(err))
	}
	id, size, err := readSuperblockFrom(f, ref.num)
	if err != nil {
		f.Close()
		return nil, Permanent("intake journal segment damaged", err)
	}
	hdr := make([]byte, blockSize)
	if ref.off+blockSize > size {
		f.Close()
		return nil, Permanent("received instance missing from the intake journal", nil)
	}
	if _, err := f.ReadAt(hdr, ref.off); err != nil {
		f.Close()
		return nil, fmt.Errorf("agent: open source: %w", pathless(err))
	}
	h, ok := parseRecordHeader(hdr, id)
	if !ok || h.seq != ref.seq || h.n != n || ref.off+span(n) > size {
		f.Close()
		return nil, Permanent("received instance missing from the intake journal", nil)
	}
	return &recordReader{f: f, r: io.NewSectionReader(f, ref.off+blockSize, n), want: h.crc}, nil
}

// recordReader reads a record's payload and checks its CRC-32C at the end.
type recordReader struct {
	f    *os.File
	r    io.Reader
	sum  uint32
	want uint32
}

// Read reads the payload; at its end it returns io.EOF if the checksum
// matches, a [PermanentError] otherwise.
func (r *recordReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.sum = crc32c(r.sum, p[:n])
	if errors.Is(err, io.EOF) && r.sum != r.want {
		return n, Permanent("received instance damaged in the intake journal", nil)
	}
	if err != nil && !errors.Is(err, io.EOF) {
		err = fmt.Errorf("agent: read source: %w", pathless(err))
	}
	return n, err
}

// Close closes the segment file.
func (r *recordReader) Close() error { return r.f.Close() }
