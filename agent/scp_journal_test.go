package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"dicomgate/dimse"
	"dicomgate/internal/dicomtest"
)

// startSCPSegments serves an SCP over q whose new journal segments are
// segSize bytes (at most limit of them, if not 0), until the test ends or
// the function returned is called.
func startSCPSegments(t *testing.T, q *Queue, dir string, segSize int64, limit int) (*SCP, func()) {
	t.Helper()
	s := NewSCP(testLogger(t), q, DICOMConfig{}, dir)
	s.segmentSize = segSize
	if limit > 0 {
		s.segmentLimit = limit
	}
	return s, serveSCP(t, s)
}

// serveSCP serves s until the test ends or the function returned is
// called.
func serveSCP(t *testing.T, s *SCP) func() {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	done := make(chan error, 1)
	go func() { done <- s.Serve(context.Background(), ln) }()
	eventually(t, "scp listening", func() bool { return s.Addr() != nil })
	var once sync.Once
	stop := func() {
		once.Do(func() {
			s.Close()
			if err := <-done; err != nil {
				t.Errorf("Serve: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// openTestJournal opens the intake journal of received with one free
// segment of 64 blocks.
func openTestJournal(t *testing.T, received string) *intakeJournal {
	t.Helper()
	j, err := openJournal(journalDir(received), journalBase+64*blockSize)
	must(t, err)
	must(t, j.grow())
	return j
}

// largestFile returns the size of the largest regular file under dir.
func largestFile(t *testing.T, dir string) (n int64) {
	t.Helper()
	must(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			fi, err := d.Info()
			if err == nil {
				n = max(n, fi.Size())
			}
		}
		return err
	}))
	return n
}

// sourceBytes reads an item's source as the pipeline does.
func sourceBytes(t *testing.T, it *Item) []byte {
	t.Helper()
	rd, err := openSource(it)
	if err != nil {
		t.Fatalf("item %d: open source: %v", it.ID, err)
	}
	defer rd.Close()
	data, err := io.ReadAll(rd)
	if err != nil {
		t.Fatalf("item %d: read source: %v", it.ID, err)
	}
	return data
}

// setState puts item id in state, as the pipeline would have.
func setState(t *testing.T, q *Queue, id int64, state State, reason string) {
	t.Helper()
	_, err := q.db.ExecContext(t.Context(), `UPDATE items SET state = ?, reason = ? WHERE id = ?`, state, reason, id)
	must(t, err)
}

// TestSCPReplaysJournal checks the recovery of a power cut: records above
// the checkpoint whose item the cut lost are queued again, the items the
// pipeline took further or that survived are left alone, the records the
// checkpoint covered are ignored, and an item whose record the cut tore
// (its flush never finished, so it was never answered) goes.
func TestSCPReplaysJournal(t *testing.T) {
	cfg := testConfig(t)
	received := filepath.Join(t.TempDir(), "received")
	q := openTestQueue(t, cfg.QueueDB)
	defer q.Close()
	j := openTestJournal(t, received)
	var pool chunkPool
	body := func(s string) []byte { return bytes.Repeat([]byte(s), 1000) }
	src := func(r *journalRecord, n int) Source {
		return Source{Path: segmentSource(r.seg.path, r.off, r.seq), Size: int64(n), ModTime: time.Now(), Root: received}
	}
	// 1: covered by the checkpoint (stale): nothing happens.
	journalled(t, j, &pool, body("1"))
	must(t, q.SetCursor(t.Context(), journalCursor, 1))
	// 2: its item did not survive.
	r2 := journalled(t, j, &pool, body("2"))
	// 3: its item survived.
	r3 := journalled(t, j, &pool, body("3"))
	id3, err := q.addReceived(t.Context(), src(r3, 1000))
	must(t, err)
	// 4: its item was committed.
	r4 := journalled(t, j, &pool, body("4"))
	id4, err := q.addReceived(t.Context(), src(r4, 1000))
	must(t, err)
	setState(t, q, id4, StateCommitted, "")
	// 5: queued while its flush ran, which the cut tore.
	r5 := journalled(t, j, &pool, body("5"))
	id5, err := q.addReceived(t.Context(), src(r5, 1000))
	must(t, err)
	must(t, j.close())
	f, err := os.OpenFile(r5.seg.path, os.O_RDWR, 0)
	must(t, err)
	_, err = f.WriteAt([]byte("torn"), r5.off+blockSize+100)
	must(t, err)
	must(t, f.Close())

	startSCP(t, q, DICOMConfig{}, received)
	items, err := q.List(t.Context(), StateSeen, 10)
	must(t, err)
	var got [][]byte
	for _, it := range items {
		got = append(got, sourceBytes(t, it))
	}
	if len(items) != 2 || items[0].ID != id3 || !bytes.Equal(got[0], body("3")) ||
		items[1].SourcePath != src(r2, 0).Path || !bytes.Equal(got[1], body("2")) {
		t.Errorf("seen after the replay: %d items; want item %d (3) and a new one (2) reading their records", len(items), id3)
	}
	if _, err := q.Get(t.Context(), id5); !errors.Is(err, ErrNotFound) {
		t.Errorf("item of the torn record: %v; want it gone", err)
	}
	if c := counts(t, q); c[StateCommitted] != 1 || total(c) != 3 {
		t.Errorf("queue %v; want 2 seen and 1 committed", c)
	}
	if v, err := q.Cursor(t.Context(), journalCursor, 0); err != nil || v != 5 {
		t.Errorf("journal cursor %d (%v); want 5", v, err)
	}
	if n := len(regularFiles(t, received)); n != 0 {
		t.Errorf("%d files in the received folder; the journal holds the instances", n)
	}
}

// TestSCPSegmentReuse checks the life of received instances in the
// journal: each is queued with its record as source and reads back
// byte-identical; a segment is reused once a checkpoint covered it and
// its items are committed (or discarded); the instance of a quarantined
// item is first copied out to a received file, which review and requeue
// then use; a segment with an item still to process is kept; the source
// disposition of a committed item leaves the segment alone; and a
// record's old source never reads another instance's bytes.
func TestSCPSegmentReuse(t *testing.T) {
	needTool(t, "storescu")
	cfg := testConfig(t)
	received := filepath.Join(t.TempDir(), "received")
	q := openTestQueue(t, cfg.QueueDB)
	defer q.Close()
	dir, key := corpus(t, 7, dicomtest.CorpusOptions{Patients: 2, Slices: 12, NoExtras: true,
		TransferSyntaxes: []string{dicomtest.ExplicitVRLittleEndian}})
	// Four of the largest instance fit a segment.
	segSize := journalBase + 4*span(largestFile(t, dir)+blockSize) + 4*blockSize
	s, stop := startSCPSegments(t, q, received, segSize, 0)
	if out, err := storescu(t, s.Addr().String(), "MODALITY", "DICOMGATE", dir); err != nil {
		t.Fatalf("storescu: %v\n%s", err, out)
	}
	items, err := q.List(t.Context(), StateSeen, 100)
	must(t, err)
	if len(items) != len(key.Files) {
		t.Fatalf("%d items queued; want %d", len(items), len(key.Files))
	}
	bySeg := map[string][]*Item{}
	var segOrder []string
	sent := map[string][]byte{}
	for _, it := range items {
		ref, ok := parseSegmentSource(it)
		if !ok {
			t.Fatalf("item %d not in the journal", it.ID)
		}
		if bySeg[ref.path] == nil {
			segOrder = append(segOrder, ref.path)
		}
		bySeg[ref.path] = append(bySeg[ref.path], it)
		data := sourceBytes(t, it)
		sent[sopInstance(t, data)] = data
	}
	for _, f := range key.Files {
		if _, ok := sent[f.SOPInstanceUID]; !ok {
			t.Errorf("instance %s not read back from the journal", f.SOPInstanceUID)
		}
	}
	if len(segOrder) < 3 || len(regularFiles(t, received)) != 0 {
		t.Fatalf("instances in %d segments, %d received files; want 3 or more segments, no files",
			len(segOrder), len(regularFiles(t, received)))
	}
	// First segment: all committed (one discarded). Second: one
	// quarantined, the others committed. Third: one still to process.
	first, second, third := bySeg[segOrder[0]], bySeg[segOrder[1]], bySeg[segOrder[2]]
	for _, it := range first {
		setState(t, q, it.ID, StateCommitted, "")
	}
	setState(t, q, first[0].ID, StateQuarantined, discardedPrefix+"tester")
	quarantined := second[0]
	want := sourceBytes(t, quarantined)
	for _, it := range second[1:] {
		setState(t, q, it.ID, StateCommitted, "")
	}
	setState(t, q, quarantined.ID, StateQuarantined, "test")
	for _, it := range third[1:] {
		setState(t, q, it.ID, StateCommitted, "")
	}
	committed, err := q.Get(t.Context(), first[1].ID)
	must(t, err)
	must(t, dispose(committed, Delete, ""))
	if _, err := os.Stat(segOrder[0]); err != nil {
		t.Fatalf("segment after the disposition of a committed item: %v", err)
	}

	isFree := func(path string) bool {
		s.j.mu.Lock()
		defer s.j.mu.Unlock()
		for _, sg := range s.j.avail {
			if sg.path == path {
				return true
			}
		}
		return false
	}
	eventually(t, "first two segments reused", func() bool {
		must(t, s.reclaim(t.Context()))
		return isFree(segOrder[0]) && isFree(segOrder[1])
	})
	if isFree(segOrder[2]) {
		t.Error("a segment holding an item to process was freed")
	}
	moved, err := q.Get(t.Context(), quarantined.ID)
	must(t, err)
	if moved.State != StateQuarantined || filepath.Dir(moved.SourcePath) != received {
		t.Fatalf("quarantined item %s with source in %s; want quarantined in the received folder",
			moved.State, filepath.Base(filepath.Dir(moved.SourcePath)))
	}
	if got := sourceBytes(t, moved); !bytes.Equal(got, want) {
		t.Errorf("copied-out instance of %d bytes differs from its record's %d", len(got), len(want))
	}
	must(t, q.Requeue(t.Context(), moved.ID))
	requeued, err := q.Get(t.Context(), moved.ID)
	must(t, err)
	if requeued.State != StateSeen || !bytes.Equal(sourceBytes(t, requeued), want) {
		t.Errorf("requeued item %s does not read its instance", requeued.State)
	}

	// New instances fill the freed segments; the old sources no longer
	// read.
	dir2, _ := corpus(t, 8, dicomtest.CorpusOptions{Patients: 1, Slices: 12, NoExtras: true,
		TransferSyntaxes: []string{dicomtest.ExplicitVRLittleEndian}})
	if out, err := storescu(t, s.Addr().String(), "MODALITY", "DICOMGATE", dir2); err != nil {
		t.Fatalf("storescu: %v\n%s", err, out)
	}
	items, err = q.List(t.Context(), StateSeen, 100)
	must(t, err)
	reused := ""
	for _, it := range items {
		if ref, ok := parseSegmentSource(it); ok && (ref.path == segOrder[0] || ref.path == segOrder[1]) {
			reused = ref.path
			sourceBytes(t, it)
		}
	}
	if reused == "" {
		t.Fatal("no new instance went into a freed segment")
	}
	// The segment's first old record was overwritten by a new one.
	old := bySeg[reused][0]
	_, err = readRecord(t, old.SourcePath, old.SourceSize, received)
	if _, ok := errors.AsType[*PermanentError](err); !ok {
		t.Errorf("reading a reused record's old source = %v; want a permanent error", err)
	}

	// A restart replays nothing (a checkpoint covered it all), keeps
	// every item readable and continues the sequence numbers.
	before := counts(t, q)
	var maxSeq uint64
	for _, it := range items {
		if ref, ok := parseSegmentSource(it); ok {
			maxSeq = max(maxSeq, ref.seq)
		}
	}
	stop()
	s, _ = startSCPSegments(t, q, received, segSize, 0)
	if c := counts(t, q); !maps.Equal(c, before) {
		t.Errorf("queue after the restart %v; want %v", c, before)
	}
	items, err = q.List(t.Context(), StateSeen, 100)
	must(t, err)
	for _, it := range items {
		sourceBytes(t, it)
	}
	dir3, key3 := corpus(t, 11, dicomtest.CorpusOptions{Slices: 2, NoExtras: true,
		TransferSyntaxes: []string{dicomtest.ExplicitVRLittleEndian}})
	if out, err := storescu(t, s.Addr().String(), "MODALITY", "DICOMGATE", dir3); err != nil {
		t.Fatalf("storescu: %v\n%s", err, out)
	}
	after, err := q.List(t.Context(), StateSeen, 100)
	must(t, err)
	if len(after) != len(items)+len(key3.Files) {
		t.Fatalf("%d items seen after the restart and %d more instances; want %d", len(after), len(key3.Files), len(items)+len(key3.Files))
	}
	for _, it := range after[len(items):] {
		if ref, ok := parseSegmentSource(it); !ok || ref.seq <= maxSeq {
			t.Errorf("item %d after the restart: sequence number not above %d", it.ID, maxSeq)
		}
		sourceBytes(t, it)
	}
}

// TestSCPLargeInstance checks that an instance too large for a journal
// record takes the file path: its own durable file in the received
// folder, queued with the file as source.
func TestSCPLargeInstance(t *testing.T) {
	needTool(t, "storescu")
	cfg := testConfig(t)
	received := filepath.Join(t.TempDir(), "received")
	q := openTestQueue(t, cfg.QueueDB)
	defer q.Close()
	dir, key := corpus(t, 9, dicomtest.CorpusOptions{Slices: 2, NoExtras: true,
		TransferSyntaxes: []string{dicomtest.ExplicitVRLittleEndian}})
	// Records of up to one block: every corpus instance is larger.
	s, _ := startSCPSegments(t, q, received, journalBase+8*blockSize, 0)
	if out, err := storescu(t, s.Addr().String(), "MODALITY", "DICOMGATE", dir); err != nil {
		t.Fatalf("storescu: %v\n%s", err, out)
	}
	items, err := q.List(t.Context(), StateSeen, 100)
	must(t, err)
	files := regularFiles(t, received)
	if len(items) != len(key.Files) || len(files) != len(key.Files) {
		t.Fatalf("%d items, %d received files; want %d", len(items), len(files), len(key.Files))
	}
	for _, it := range items {
		if _, ok := parseSegmentSource(it); ok || !slices.Contains(files, filepath.Base(it.SourcePath)) {
			t.Errorf("item %d: source not a received file", it.ID)
		}
		fi, err := os.Stat(it.SourcePath)
		if err != nil || fi.Size() != it.SourceSize || !fi.ModTime().Equal(it.SourceModTime) {
			t.Errorf("item %d does not match its file: %v", it.ID, err)
		}
	}
}

// TestSCPSegmentsInUse checks that with every segment in use (their items
// wait for the relay) instances take the file path instead of failing.
func TestSCPSegmentsInUse(t *testing.T) {
	needTool(t, "storescu")
	cfg := testConfig(t)
	received := filepath.Join(t.TempDir(), "received")
	q := openTestQueue(t, cfg.QueueDB)
	defer q.Close()
	dir, key := corpus(t, 10, dicomtest.CorpusOptions{Patients: 2, Slices: 8, NoExtras: true,
		TransferSyntaxes: []string{dicomtest.ExplicitVRLittleEndian}})
	// One segment, holding a few instances.
	s, _ := startSCPSegments(t, q, received, journalBase+4*span(largestFile(t, dir)+blockSize)+4*blockSize, 1)
	if out, err := storescu(t, s.Addr().String(), "MODALITY", "DICOMGATE", dir); err != nil {
		t.Fatalf("storescu: %v\n%s", err, out)
	}
	items, err := q.List(t.Context(), StateSeen, 100)
	must(t, err)
	if len(items) != len(key.Files) {
		t.Fatalf("%d items queued; want %d", len(items), len(key.Files))
	}
	inJournal, inFiles := 0, 0
	for _, it := range items {
		if _, ok := parseSegmentSource(it); ok {
			inJournal++
		} else {
			inFiles++
		}
		data := sourceBytes(t, it)
		if !slices.ContainsFunc(key.Files, func(f dicomtest.FileInfo) bool { return f.SOPInstanceUID == sopInstance(t, data) }) {
			t.Errorf("item %d reads an instance that was not sent", it.ID)
		}
	}
	if inJournal == 0 || inFiles == 0 || len(regularFiles(t, received)) != inFiles || len(s.j.segments()) != 1 {
		t.Errorf("%d instances in the journal (%d segments), %d in files (%d in the folder); want both used, one segment",
			inJournal, len(s.j.segments()), inFiles, len(regularFiles(t, received)))
	}
}

// TestSCPReclaimQuarantined checks the start-up reclaim of a segment
// whose items are final: a quarantined instance is copied out to a
// received file (byte-identical, the item pointed at it); a quarantined
// item whose record a crash tore (never acknowledged) no longer holds the
// segment, its source reported missing; the segment is then free.
func TestSCPReclaimQuarantined(t *testing.T) {
	cfg := testConfig(t)
	received := filepath.Join(t.TempDir(), "received")
	q := openTestQueue(t, cfg.QueueDB)
	defer q.Close()
	j := openTestJournal(t, received)
	var pool chunkPool
	body := func(s string) []byte { return bytes.Repeat([]byte(s), 3000) }
	var ids []int64
	var recs []*journalRecord
	for _, b := range []string{"a", "b", "c"} {
		r := journalled(t, j, &pool, body(b))
		id, err := q.addReceived(t.Context(), Source{Path: segmentSource(r.seg.path, r.off, r.seq),
			Size: 3000, ModTime: time.Now(), Root: received})
		must(t, err)
		ids, recs = append(ids, id), append(recs, r)
	}
	setState(t, q, ids[0], StateQuarantined, "policy")
	setState(t, q, ids[1], StateQuarantined, "policy")
	setState(t, q, ids[2], StateCommitted, "")
	must(t, q.SetCursor(t.Context(), journalCursor, 3))
	must(t, j.close())
	f, err := os.OpenFile(recs[1].seg.path, os.O_RDWR, 0)
	must(t, err)
	_, err = f.WriteAt([]byte("torn"), recs[1].off+blockSize+10)
	must(t, err)
	must(t, f.Close())

	s := NewSCP(testLogger(t), q, DICOMConfig{}, received)
	must(t, s.prepare(t.Context()))
	defer s.j.close()
	a, err := q.Get(t.Context(), ids[0])
	must(t, err)
	if a.State != StateQuarantined || filepath.Dir(a.SourcePath) != received || !bytes.Equal(sourceBytes(t, a), body("a")) {
		t.Errorf("quarantined item %s not copied out byte-identical", a.State)
	}
	b, err := q.Get(t.Context(), ids[1])
	must(t, err)
	_, err = openSource(b)
	if _, ok := parseSegmentSource(b); ok || !errors.As(err, new(*PermanentError)) {
		t.Errorf("item of the torn record: still in the journal or readable (%v)", err)
	}
	if got := regularFiles(t, received); len(got) != 1 || got[0] != filepath.Base(a.SourcePath) {
		t.Errorf("received folder holds %v; want the one copy", got)
	}
	if free, all := s.j.spares(); free != all || all != 1 {
		t.Errorf("%d of %d segments free; want the one", free, all)
	}
}

// TestSCPShrinksJournal checks that the SCP gives back the space of a
// backlog: with ten segments full, eight of them holding only committed
// (or discarded) items, its upkeep deletes the free segments down to
// spareSegments, keeping the two whose items wait, readable. After a
// restart (with committed items pointing into deleted segments, and one
// deleted segment back as if a power cut had undone its unlink) nothing
// is replayed or dropped and the extra segment goes again; once every
// item is committed, spareSegments segments remain, and intake goes on:
// the current segment and spareSegments free ones.
func TestSCPShrinksJournal(t *testing.T) {
	cfg := testConfig(t)
	received := filepath.Join(t.TempDir(), "received")
	q := openTestQueue(t, cfg.QueueDB)
	defer q.Close()
	segSize := int64(journalBase + 16*blockSize)
	j, err := openJournal(journalDir(received), segSize)
	must(t, err)
	for range 10 {
		must(t, j.grow())
	}
	var pool chunkPool
	body := func(i int) []byte { return bytes.Repeat([]byte{byte('a' + i%26)}, 2*blockSize+100) } // 4 records a segment
	var (
		ids     []int64
		waiting []int64 // items of segments 9 and 10, still to send
		last    uint64
	)
	for i := range 40 {
		r := journalled(t, j, &pool, body(i))
		id, err := q.addReceived(t.Context(), Source{Path: segmentSource(r.seg.path, r.off, r.seq),
			Size: int64(len(body(i))), ModTime: time.Now(), Root: received})
		must(t, err)
		ids, last = append(ids, id), r.seq
		if r.seg.num >= 9 {
			waiting = append(waiting, id)
		} else {
			setState(t, q, id, StateCommitted, "")
		}
	}
	setState(t, q, ids[5], StateQuarantined, discardedPrefix+"tester")
	must(t, q.SetCursor(t.Context(), journalCursor, int64(last)))
	must(t, j.close())
	if len(waiting) != 8 {
		t.Fatalf("%d items in segments 9 and 10; want 8", len(waiting))
	}
	checkWaiting := func() {
		t.Helper()
		for _, id := range waiting {
			it, err := q.Get(t.Context(), id)
			must(t, err)
			if got := sourceBytes(t, it); it.State != StateSeen || !bytes.Equal(got, body(int(id-ids[0]))) {
				t.Errorf("item %d %s does not read its instance", id, it.State)
			}
		}
	}
	var log syncLog
	start := func() (*SCP, func()) {
		s := NewSCP(zerolog.New(&log).Level(zerolog.InfoLevel), q, DICOMConfig{}, received)
		s.segmentSize, s.segmentIdle, s.upkeep = segSize, 0, 20*time.Millisecond
		return s, serveSCP(t, s)
	}
	filesAre := func(what string, want []int) {
		t.Helper()
		eventually(t, what, func() bool { return slices.Equal(segmentFiles(t, received), want) })
	}
	// One segment deleted by the shrink, kept aside to bring back.
	first, err := os.ReadFile(filepath.Join(journalDir(received), segmentName(1)))
	must(t, err)

	// The start frees segments 1 to 8 (8 and 7 next in line); the upkeep
	// deletes 1 to 6.
	_, stop := start()
	filesAre("journal shrunk to the busy segments and two spares", []int{7, 8, 9, 10})
	checkWaiting()
	// Counts only: no path.
	shrunk := fmt.Sprintf(`"segments_removed":6,"bytes_freed":%d,"segments":4`, 6*segSize)
	if n, paths := log.count(shrunk), log.count(received); n != 1 || paths != 0 {
		t.Errorf("log has %d lines with %s and %d paths; want one and none", n, shrunk, paths)
	}
	before := counts(t, q)
	stop()

	// A power cut undid the unlink of segment 1.
	must(t, os.WriteFile(filepath.Join(journalDir(received), segmentName(1)), first, 0o600))
	s, stop := start()
	if c := counts(t, q); !maps.Equal(c, before) {
		t.Errorf("queue after the restart %v; want %v", c, before)
	}
	if v, err := q.Cursor(t.Context(), journalCursor, 0); err != nil || uint64(v) != last {
		t.Errorf("journal cursor %d (%v) after the restart; want %d", v, err, last)
	}
	filesAre("segment back from the power cut deleted again", []int{7, 8, 9, 10})
	checkWaiting()

	// Every item committed: two spares remain, the segments freed last
	// (next in line).
	for _, id := range waiting {
		setState(t, q, id, StateCommitted, "")
	}
	filesAre("journal shrunk to two spares", []int{9, 10})

	// Intake goes on: a record in a kept segment, sequence numbers
	// continued, then the current segment and two spares.
	c := &chunks{pool: &pool}
	c.Write(body(40))
	must(t, s.storeJournalled(t.Context(), dimse.StoreRequest{}, c))
	c.release()
	items, err := q.List(t.Context(), StateSeen, 10)
	must(t, err)
	if len(items) != 1 {
		t.Fatalf("%d items seen after a store; want 1", len(items))
	}
	ref, ok := parseSegmentSource(items[0])
	if !ok || ref.seq <= last || ref.num != 10 || ref.off != journalBase || !bytes.Equal(sourceBytes(t, items[0]), body(40)) {
		t.Errorf("stored instance in segment %d seq %d; want at the start of 10 above %d, readable", ref.num, ref.seq, last)
	}
	filesAre("current segment and two spares", []int{9, 10, 11})
	// The upkeep keeps it so.
	time.Sleep(10 * s.upkeep)
	if got := segmentFiles(t, received); !slices.Equal(got, []int{9, 10, 11}) {
		t.Errorf("segment files %v; want [9 10 11]", got)
	}
	stop()
}
