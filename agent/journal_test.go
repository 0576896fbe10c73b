package agent

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// journalled writes a record holding data into j and returns it.
func journalled(t *testing.T, j *intakeJournal, pool *chunkPool, name string, data []byte) *journalRecord {
	t.Helper()
	c := &chunks{pool: pool}
	defer c.release()
	c.Write(data)
	rec, err := j.reserve(t.Context(), name, c.n)
	must(t, err)
	must(t, j.write(rec, c))
	return rec
}

// TestJournalRing checks the ring: records wrap to the start, a full ring
// makes a reservation wait until a checkpoint frees records (or its
// context ends), and the scan finds exactly the complete records above
// the checkpoint, in order, skipping stale and voided ones.
func TestJournalRing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j")
	j, err := openJournal(path, journalBase+16*blockSize)
	must(t, err)
	defer j.close()
	var pool chunkPool
	data := func(i int) []byte { return bytes.Repeat([]byte{byte('a' + i)}, 2*blockSize+100) } // 4 blocks with the header
	var recs []*journalRecord
	for i := range 4 {
		recs = append(recs, journalled(t, j, &pool, "r"+string(rune('0'+i))+".dcm", data(i)))
	}
	// Full: the next reservation waits, and fails when its context ends.
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	_, err = j.reserve(ctx, "full.dcm", 100)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("reserve on a full ring = %v; want a deadline error", err)
	}
	// A waiting reservation gets the space freed by a checkpoint, at the
	// start of the ring.
	got := make(chan *journalRecord, 1)
	go func() {
		rec, err := j.reserve(t.Context(), "r4.dcm", int64(len(data(4))))
		if err != nil {
			t.Error(err)
		}
		got <- rec
	}()
	for _, r := range recs[:2] {
		j.finish(r, nil)
	}
	if n := len(j.finishedPrefix()); n != 2 {
		t.Fatalf("finished prefix of %d records; want 2", n)
	}
	j.free(2)
	r4 := <-got
	if r4.off != journalBase || r4.seq != 5 {
		t.Fatalf("record after the wrap at %d seq %d; want %d seq 5", r4.off, r4.seq, journalBase)
	}
	c := &chunks{pool: &pool}
	c.Write(data(4))
	must(t, j.write(r4, c))
	c.release()

	jr, err := j.reader()
	must(t, err)
	defer jr.close()
	// r0 and r1 were voided (abandoned); r2, r3 and r4 are complete.
	scanned, maxSeq, err := jr.scan(0)
	must(t, err)
	var seqs []uint64
	for _, s := range scanned {
		seqs = append(seqs, s.seq)
	}
	if !slices.Equal(seqs, []uint64{3, 4, 5}) || maxSeq != 5 {
		t.Fatalf("scan found %v (max %d); want [3 4 5] (max 5)", seqs, maxSeq)
	}
	var buf bytes.Buffer
	_, err = buf.ReadFrom(jr.payload(scanned[2]))
	must(t, err)
	if !bytes.Equal(buf.Bytes(), data(4)) || scanned[2].name != "r4.dcm" {
		t.Errorf("record 5 holds %q… named %s", buf.Bytes()[:8], scanned[2].name)
	}
	// Above a checkpoint at 4, only 5 is left.
	if scanned, _, _ = jr.scan(4); len(scanned) != 1 || scanned[0].seq != 5 {
		t.Errorf("scan above 4 found %v", scanned)
	}
}

// TestJournalTornAndForeign checks that the scan refuses a record whose
// payload does not match its checksum (a write cut by a power loss) and a
// record of another journal, and that a journal whose superblock is
// damaged does not open.
func TestJournalTornAndForeign(t *testing.T) {
	dir := t.TempDir()
	j, err := openJournal(filepath.Join(dir, "j"), journalBase+16*blockSize)
	must(t, err)
	var pool chunkPool
	journalled(t, j, &pool, "a.dcm", []byte("first instance"))
	torn := journalled(t, j, &pool, "b.dcm", []byte("second instance"))
	journalled(t, j, &pool, "c.dcm", []byte("third instance"))
	must(t, j.close())
	// Tear the second record's payload.
	f, err := os.OpenFile(filepath.Join(dir, "j"), os.O_RDWR, 0)
	must(t, err)
	_, err = f.WriteAt([]byte("XX"), torn.off+blockSize)
	must(t, err)
	// Copy a record of another journal into the free space.
	other, err := openJournal(filepath.Join(dir, "other"), journalBase+16*blockSize)
	must(t, err)
	journalled(t, other, &pool, "x.dcm", []byte("foreign"))
	must(t, other.close())
	foreign, err := os.ReadFile(filepath.Join(dir, "other"))
	must(t, err)
	_, err = f.WriteAt(foreign[journalBase:journalBase+2*blockSize], journalBase+10*blockSize)
	must(t, err)
	must(t, f.Close())

	j, err = openJournal(filepath.Join(dir, "j"), 0)
	must(t, err)
	jr, err := j.reader()
	must(t, err)
	scanned, _, err := jr.scan(0)
	jr.close()
	j.close()
	must(t, err)
	var names []string
	for _, s := range scanned {
		names = append(names, s.name)
	}
	if !slices.Equal(names, []string{"a.dcm", "c.dcm"}) {
		t.Errorf("scan found %v; want [a.dcm c.dcm]", names)
	}

	// A damaged superblock: the journal does not open (its records cannot
	// be trusted, and a new one would drop acknowledged instances).
	f, err = os.OpenFile(filepath.Join(dir, "j"), os.O_RDWR, 0)
	must(t, err)
	_, err = f.WriteAt([]byte{0xff}, 30)
	must(t, err)
	must(t, f.Close())
	if _, err := openJournal(filepath.Join(dir, "j"), 0); !errors.Is(err, errJournalCorrupt) {
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

// TestSCPReplaysJournal checks the recovery of a power cut: the journal
// holds instances whose received file or queue item the cut lost, and the
// start-up restores each one (file byte-identical, item queued, the item
// of a file that changed keeps its identity), leaves alone the items the
// pipeline took further and ignores the records a checkpoint covered.
func TestSCPReplaysJournal(t *testing.T) {
	cfg := testConfig(t)
	received := filepath.Join(t.TempDir(), "received")
	must(t, os.MkdirAll(received, 0o700))
	q := openTestQueue(t, cfg.QueueDB)
	defer q.Close()
	j, err := openJournal(journalPath(received), defaultJournalSize)
	must(t, err)
	var pool chunkPool
	body := func(s string) []byte { return []byte(strings.Repeat(s, 1000)) }
	// 1: covered by the checkpoint (stale): nothing happens.
	journalled(t, j, &pool, "1-stale.dcm", body("1"))
	must(t, q.SetCursor(t.Context(), journalCursor, 1))
	// 2: neither file nor item survived.
	journalled(t, j, &pool, "2-lost.dcm", body("2"))
	// 3: the item survived, the file lost its data.
	journalled(t, j, &pool, "3-empty.dcm", body("3"))
	p3 := filepath.Join(received, "3-empty.dcm")
	must(t, os.WriteFile(p3, nil, 0o600))
	mtime := time.Now().Add(-time.Hour).Round(time.Microsecond)
	_, _, err = q.Add(t.Context(), Source{Path: p3, Size: int64(len(body("3"))), ModTime: mtime, Root: received})
	must(t, err)
	// 4: the item was committed and its file deleted.
	journalled(t, j, &pool, "4-done.dcm", body("4"))
	id4, _, err := q.Add(t.Context(), Source{Path: filepath.Join(received, "4-done.dcm"), Size: 4000, ModTime: mtime, Root: received})
	must(t, err)
	_, err = q.db.ExecContext(t.Context(), `UPDATE items SET state = ? WHERE id = ?`, StateCommitted, id4)
	must(t, err)
	must(t, j.close())

	startSCP(t, q, DICOMConfig{}, received)
	if got := regularFiles(t, received); !slices.Equal(got, []string{"2-lost.dcm", "3-empty.dcm"}) {
		t.Errorf("received folder holds %v; want the two restored instances", got)
	}
	for _, tc := range []struct {
		name string
		want []byte
	}{{"2-lost.dcm", body("2")}, {"3-empty.dcm", body("3")}} {
		data, err := os.ReadFile(filepath.Join(received, tc.name))
		must(t, err)
		if !bytes.Equal(data, tc.want) {
			t.Errorf("%s restored with %d bytes; want the journal's %d", tc.name, len(data), len(tc.want))
		}
	}
	items, err := q.List(t.Context(), StateSeen, 10)
	must(t, err)
	if len(items) != 2 {
		t.Fatalf("%d items seen; want 2", len(items))
	}
	for _, it := range items {
		fi, err := os.Stat(it.SourcePath)
		if err != nil || fi.Size() != it.SourceSize || !fi.ModTime().Equal(it.SourceModTime) {
			t.Errorf("item %d does not match its file: %v %v", it.ID, fi, err)
		}
	}
	if c := counts(t, q); c[StateCommitted] != 1 || total(c) != 3 {
		t.Errorf("queue %v; want 2 seen and 1 committed", c)
	}
	if v, err := q.Cursor(t.Context(), journalCursor, 0); err != nil || v != 4 {
		t.Errorf("journal cursor %d (%v); want 4", v, err)
	}
}
