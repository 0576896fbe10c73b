package agent

import (
	"bytes"
	"errors"
	"io"
	"os"
	"slices"
	"sync"
	"testing"
	"time"
)

// journalled writes a durable record holding data into j and returns it.
func journalled(t *testing.T, j *intakeJournal, pool *chunkPool, data []byte) *journalRecord {
	t.Helper()
	c := &chunks{pool: pool}
	defer c.release()
	c.Write(data)
	rec, err := j.reserve(c.n)
	must(t, err)
	must(t, j.write(rec, c))
	must(t, rec.seg.gsync.wait())
	return rec
}

// readRecord returns the payload of a record read as the pipeline reads
// it, or the error.
func readRecord(t *testing.T, path string, n int64, root string) ([]byte, error) {
	t.Helper()
	rd, err := openSource(&Item{SourcePath: path, SourceSize: n, Root: root})
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	return io.ReadAll(rd)
}

// TestJournalSegments checks the segments: records follow each other in
// the current segment and go to the next free one when it is full; with
// none free a reservation fails at once; a segment freed by a checkpoint
// is reused from its start; the scan finds exactly the complete records
// above the checkpoint, skipping stale and voided ones; and a record is
// read back through its source path.
func TestJournalSegments(t *testing.T) {
	received := t.TempDir()
	j, err := openJournal(journalDir(received), journalBase+16*blockSize)
	must(t, err)
	defer j.close()
	var pool chunkPool
	data := func(i int) []byte { return bytes.Repeat([]byte{byte('a' + i)}, 2*blockSize+100) } // 4 blocks with the header
	if _, err := j.reserve(100); !errors.Is(err, errNoSegment) {
		t.Fatalf("reserve without segments = %v; want errNoSegment", err)
	}
	must(t, j.grow())
	must(t, j.grow())
	var recs []*journalRecord
	for i := range 8 {
		recs = append(recs, journalled(t, j, &pool, data(i)))
	}
	if recs[3].seg != recs[0].seg || recs[4].seg == recs[0].seg || recs[4].off != journalBase {
		t.Fatalf("records 0 and 4 in segments %d %d at %d; want the fifth at the start of the second",
			recs[0].seg.num, recs[4].seg.num, recs[4].off)
	}
	if _, err := j.reserve(100); !errors.Is(err, errNoSegment) {
		t.Fatalf("reserve with both segments taken = %v; want errNoSegment", err)
	}
	select {
	case <-j.want:
	default:
		t.Error("taking the last free segment asked for none")
	}
	// Nothing is idle until a checkpoint covers the records.
	if n := len(j.idle()); n != 0 {
		t.Fatalf("%d idle segments before a checkpoint", n)
	}
	for i, r := range recs {
		j.finish(r, i != 1) // record 2 (seq 2) abandoned
	}
	if n := len(j.finishedPrefix()); n != 8 {
		t.Fatalf("finished prefix of %d records; want 8", n)
	}
	j.free(4)
	idle := j.idle()
	if len(idle) != 1 || idle[0] != recs[0].seg {
		t.Fatalf("idle segments %v; want the first", idle)
	}
	j.release(idle[0])
	r9 := journalled(t, j, &pool, data(9))
	if r9.seg != recs[0].seg || r9.off != journalBase || r9.seq != 9 {
		t.Fatalf("record after the reuse in segment %d at %d seq %d; want segment %d at %d seq 9",
			r9.seg.num, r9.off, r9.seq, recs[0].seg.num, journalBase)
	}
	var seqs []uint64
	for _, sg := range j.segments() {
		scanned, _, err := sg.scan(0)
		must(t, err)
		for _, s := range scanned {
			seqs = append(seqs, s.seq)
		}
	}
	// Seq 1 was overwritten by 9, seq 2 voided.
	if !slices.Equal(seqs, []uint64{3, 4, 9, 5, 6, 7, 8}) {
		t.Fatalf("scan found %v; want [3 4 9 5 6 7 8]", seqs)
	}
	if scanned, maxSeq, _ := recs[0].seg.scan(4); len(scanned) != 1 || scanned[0].seq != 9 || maxSeq != 9 {
		t.Errorf("scan above 4 found %v (max %d); want 9", scanned, maxSeq)
	}
	got, err := readRecord(t, segmentSource(r9.seg.path, r9.off, r9.seq), int64(len(data(9))), received)
	must(t, err)
	if !bytes.Equal(got, data(9)) {
		t.Errorf("record 9 reads %q…", got[:8])
	}
	// The source of the overwritten record no longer reads.
	_, err = readRecord(t, segmentSource(recs[0].seg.path, recs[0].off, recs[0].seq), int64(len(data(0))), received)
	if _, ok := errors.AsType[*PermanentError](err); !ok {
		t.Errorf("reading an overwritten record = %v; want a permanent error", err)
	}
}

// TestJournalTornAndForeign checks that the scan and the pipeline's
// reader refuse a record whose payload does not match its checksum (a
// write cut by a power loss), that the scan ignores a record of another
// segment, and that a segment whose superblock is damaged does not open.
func TestJournalTornAndForeign(t *testing.T) {
	received := t.TempDir()
	dir := journalDir(received)
	j, err := openJournal(dir, journalBase+16*blockSize)
	must(t, err)
	must(t, j.grow())
	must(t, j.grow())
	var pool chunkPool
	a := journalled(t, j, &pool, []byte("first instance"))
	torn := journalled(t, j, &pool, []byte("second instance"))
	c := journalled(t, j, &pool, []byte("third instance"))
	must(t, j.close())
	// Tear the second record's payload.
	f, err := os.OpenFile(a.seg.path, os.O_RDWR, 0)
	must(t, err)
	_, err = f.WriteAt([]byte("XX"), torn.off+blockSize)
	must(t, err)
	// Copy a record of the other segment into the free space.
	j2, err := openJournal(dir, journalBase+16*blockSize)
	must(t, err)
	segs := j2.segments()
	j2.release(segs[1])
	x := journalled(t, j2, &pool, []byte("foreign"))
	must(t, j2.close())
	other, err := os.ReadFile(segs[1].path)
	must(t, err)
	_, err = f.WriteAt(other[x.off:x.off+2*blockSize], journalBase+10*blockSize)
	must(t, err)
	must(t, f.Close())

	j, err = openJournal(dir, journalBase+16*blockSize)
	must(t, err)
	scanned, _, err := j.segments()[0].scan(0)
	j.close()
	must(t, err)
	var seqs []uint64
	for _, s := range scanned {
		seqs = append(seqs, s.seq)
	}
	if !slices.Equal(seqs, []uint64{a.seq, c.seq}) {
		t.Errorf("scan found %v; want [%d %d]", seqs, a.seq, c.seq)
	}
	_, err = readRecord(t, segmentSource(a.seg.path, torn.off, torn.seq), int64(len("second instance")), received)
	if _, ok := errors.AsType[*PermanentError](err); !ok {
		t.Errorf("reading a torn record = %v; want a permanent error", err)
	}

	// A damaged superblock: the journal does not open (its records cannot
	// be trusted, and starting over would drop acknowledged instances).
	f, err = os.OpenFile(a.seg.path, os.O_RDWR, 0)
	must(t, err)
	_, err = f.WriteAt([]byte{0xff}, 30)
	must(t, err)
	must(t, f.Close())
	if _, err := openJournal(dir, journalBase+16*blockSize); !errors.Is(err, errJournalCorrupt) {
		t.Errorf("open with a damaged superblock = %v; want errJournalCorrupt", err)
	}
}

// TestGroupSyncShares checks group commit: callers arriving while a flush
// runs share the next one, and a failed flush fails every later wait.
func TestGroupSyncShares(t *testing.T) {
	var (
		mu      sync.Mutex
		flushes int
		fail    bool
	)
	release := make(chan struct{})
	g := newGroupSync(func() error {
		mu.Lock()
		flushes++
		first, f := flushes == 1, fail
		mu.Unlock()
		if first {
			<-release // hold the first flush until the others wait
		}
		if f {
			return errors.New("flush failed")
		}
		return nil
	})
	var wg sync.WaitGroup
	wg.Go(func() { must(t, g.wait()) })
	for {
		mu.Lock()
		started := flushes == 1
		mu.Unlock()
		if started {
			break
		}
		time.Sleep(time.Millisecond)
	}
	for range 8 {
		wg.Go(func() { must(t, g.wait()) })
	}
	// The eight wait for the first flush to end, then share the second.
	for {
		g.mu.Lock()
		n := g.waiters
		g.mu.Unlock()
		if n == 8 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	if flushes != 2 {
		t.Errorf("9 waits took %d flushes; want 2", flushes)
	}
	mu.Lock()
	fail = true
	mu.Unlock()
	if err := g.wait(); err == nil {
		t.Fatal("wait after a failed flush = nil")
	}
	mu.Lock()
	fail = false
	mu.Unlock()
	if err := g.wait(); err == nil {
		t.Error("a failed flush is not sticky")
	}
}

// segmentFiles returns the numbers of the segment files in the journal
// folder of received.
func segmentFiles(t *testing.T, received string) []int {
	t.Helper()
	var nums []int
	for _, name := range regularFiles(t, journalDir(received)) {
		if n, ok := parseSegmentName(name); ok {
			nums = append(nums, n)
		}
	}
	slices.Sort(nums)
	return nums
}

// TestJournalShrink checks that shrink deletes the free segments beyond
// the ones next in line once they have been free long enough, and only
// those: the current segment and the segments holding records a
// checkpoint did not cover stay, their records readable; a deleted
// segment is never released or reserved into again; and the journal
// reopens with the gaps in its segment numbers, its records intact, and
// numbers new segments after the highest.
func TestJournalShrink(t *testing.T) {
	received := t.TempDir()
	size := int64(journalBase + 16*blockSize)
	j, err := openJournal(journalDir(received), size)
	must(t, err)
	defer func() { j.close() }()
	var pool chunkPool
	data := func(i int) []byte { return bytes.Repeat([]byte{byte('a' + i%26)}, 2*blockSize+100) } // 4 records a segment
	for range 8 {
		must(t, j.grow())
	}
	// Segments 1 to 6 full, 7 current with two records, 8 never used.
	var recs []*journalRecord
	for i := range 26 {
		recs = append(recs, journalled(t, j, &pool, data(i)))
	}
	for _, r := range recs {
		j.finish(r, true)
	}
	if recs[23].seg.num != 6 || recs[24].seg.num != 7 {
		t.Fatalf("records 24 and 25 in segments %d and %d; want 6 and 7", recs[23].seg.num, recs[24].seg.num)
	}
	// A checkpoint covers segments 1 to 5; they are released with 1 and 2
	// next in line.
	j.free(20)
	idle := j.idle()
	if len(idle) != 5 {
		t.Fatalf("%d idle segments; want 5", len(idle))
	}
	for _, sg := range slices.Backward(idle) {
		j.release(sg)
	}
	if free, all := j.spares(); free != 6 || all != 8 {
		t.Fatalf("%d of %d segments free; want 6 of 8", free, all)
	}

	// Not free long enough: nothing goes.
	if n, _, err := j.shrink(spareSegments, time.Hour, time.Now()); n != 0 || err != nil {
		t.Fatalf("shrink of segments free for less than an hour removed %d (%v); want none", n, err)
	}
	n, freed, err := j.shrink(spareSegments, 0, time.Now())
	must(t, err)
	if n != 4 || freed != 4*size {
		t.Errorf("shrink removed %d segments, %d bytes; want 4, %d", n, freed, 4*size)
	}
	if got := segmentFiles(t, received); !slices.Equal(got, []int{1, 2, 6, 7}) {
		t.Fatalf("segment files %v after the shrink; want [1 2 6 7]", got)
	}
	if free, all := j.spares(); free != 2 || all != 4 {
		t.Errorf("%d of %d segments free after the shrink; want 2 of 4", free, all)
	}
	// Shrinking again changes nothing.
	if n, _, err := j.shrink(spareSegments, 0, time.Now()); n != 0 || err != nil {
		t.Errorf("second shrink removed %d (%v); want none", n, err)
	}
	// The records not covered by the checkpoint read back.
	readAll := func(from int) {
		t.Helper()
		for i, r := range recs[from:] {
			got, err := readRecord(t, segmentSource(r.seg.path, r.off, r.seq), int64(len(data(from+i))), received)
			if err != nil || !bytes.Equal(got, data(from+i)) {
				t.Errorf("record %d: %v; want its bytes", r.seq, err)
			}
		}
	}
	readAll(20)
	// A deleted segment is not released again.
	j.release(idle[2])
	if free, _ := j.spares(); free != 2 {
		t.Errorf("a deleted segment was released: %d free", free)
	}
	// New records fill the current segment, then the first segment next
	// in line.
	for i := 26; i < 29; i++ {
		recs = append(recs, journalled(t, j, &pool, data(i)))
		j.finish(recs[i], true)
	}
	if recs[27].seg.num != 7 || recs[28].seg.num != 1 || recs[28].off != journalBase {
		t.Errorf("records 28 and 29 in segments %d and %d; want 7 and 1", recs[27].seg.num, recs[28].seg.num)
	}

	// Reopened: the segments with gaps in their numbers, the records
	// above the checkpoint found and readable, new segments numbered on.
	must(t, j.close())
	j, err = openJournal(journalDir(received), size)
	must(t, err)
	var nums []int
	var seqs []uint64
	for _, sg := range j.segments() {
		nums = append(nums, sg.num)
		scanned, _, err := sg.scan(20)
		must(t, err)
		for _, s := range scanned {
			seqs = append(seqs, s.seq)
		}
	}
	slices.Sort(seqs)
	if !slices.Equal(nums, []int{1, 2, 6, 7}) || !slices.Equal(seqs, []uint64{21, 22, 23, 24, 25, 26, 27, 28, 29}) {
		t.Errorf("reopened: segments %v, records above the checkpoint %v; want [1 2 6 7], 21 to 29", nums, seqs)
	}
	readAll(20)
	must(t, j.grow())
	if got := segmentFiles(t, received); !slices.Equal(got, []int{1, 2, 6, 7, 8}) {
		t.Errorf("segment files %v after a grow; want [1 2 6 7 8]", got)
	}
}
