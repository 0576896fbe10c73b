//go:build linux

package agent

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"golang.org/x/sys/unix"

	"dicomgate/dimse"
	"dicomgate/internal/dicomtest"
)

// TestSCPJournalWriteFails: a journal write the kernel refuses (EFBIG: the
// process's file size limit, RLIMIT_FSIZE, is lowered below the segments'
// later records; a real write error, nothing simulated) answers that
// instance with a failure status and queues nothing of it. The segment is
// retired: no record is appended to it and it is never reused. The next
// instances go to other segments (or, when none is left, files of their
// own) and succeed; every instance answered with a success is queued and
// reads back; the association stays usable, and once the limit is lifted
// the failed instances, sent again, are queued too.
func TestSCPJournalWriteFails(t *testing.T) {
	cfg := testConfig(t)
	received := filepath.Join(t.TempDir(), "received")
	q := openTestQueue(t, cfg.QueueDB)
	defer q.Close()
	dir, key := corpus(t, 13, dicomtest.CorpusOptions{Patients: 1, Slices: 16, Rows: 512, Cols: 512, NoExtras: true,
		TransferSyntaxes: []string{dicomtest.ExplicitVRLittleEndian}})
	rec := span(largestFile(t, dir) + blockSize)
	segSize := journalBase + 8*rec
	s, _ := startSCPSegments(t, q, received, segSize, 0)
	eventually(t, "spare segments ready", func() bool { free, _ := s.j.spares(); return free >= spareSegments })

	var files []string
	must(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			files = append(files, p)
		}
		return err
	}))
	slices.Sort(files)
	a, err := dimse.Dial(t.Context(), s.Addr().String(), "MODALITY", "DICOMGATE")
	must(t, err)
	defer a.Release(t.Context())
	store := func(path string) error {
		f, err := os.Open(path)
		must(t, err)
		defer f.Close()
		return a.Store(t.Context(), f)
	}

	// Records past the third of a segment cannot be written. The queue
	// database and the files of instances stay far below the limit.
	var old unix.Rlimit
	must(t, unix.Getrlimit(unix.RLIMIT_FSIZE, &old))
	lim := old
	lim.Cur = uint64(journalBase + 3*rec)
	must(t, unix.Setrlimit(unix.RLIMIT_FSIZE, &lim))
	lifted := false
	lift := func() {
		if !lifted {
			must(t, unix.Setrlimit(unix.RLIMIT_FSIZE, &old))
			lifted = true
		}
	}
	defer lift()
	var ok, failed []string
	for _, p := range files {
		err := store(p)
		if _, isStatus := errors.AsType[*dimse.StatusError](err); err != nil && !isStatus {
			t.Fatalf("store %s: %v, want a success or a failure status", filepath.Base(p), err)
		}
		if err != nil {
			failed = append(failed, p)
		} else {
			ok = append(ok, p)
		}
	}
	lift()
	if len(failed) == 0 || len(ok) < len(files)/2 {
		t.Fatalf("%d stores failed, %d succeeded; want some of each", len(failed), len(ok))
	}

	queued := func() map[string]bool {
		items, err := q.List(t.Context(), StateSeen, 1000)
		must(t, err)
		out := map[string]bool{}
		for _, it := range items {
			out[sopInstance(t, sourceBytes(t, it))] = true
		}
		if len(out) != len(items) {
			t.Errorf("%d items for %d instances", len(items), len(out))
		}
		return out
	}
	sopOf := func(p string) string {
		data, err := os.ReadFile(p)
		must(t, err)
		return sopInstance(t, data)
	}
	got := queued()
	for _, p := range ok {
		if !got[sopOf(p)] {
			t.Errorf("%s answered with a success but not queued", filepath.Base(p))
		}
	}
	for _, p := range failed {
		if got[sopOf(p)] {
			t.Errorf("%s answered with a failure but queued", filepath.Base(p))
		}
	}

	var retired []*segment
	for _, sg := range s.j.segments() {
		s.j.mu.Lock()
		if sg.failed {
			retired = append(retired, sg)
		}
		s.j.mu.Unlock()
	}
	if len(retired) == 0 {
		t.Fatal("no segment retired after a failed write")
	}
	t.Logf("%d of %d stores failed; %d segments retired", len(failed), len(files), len(retired))
	must(t, s.reclaim(t.Context()))
	heads := map[*segment]int64{}
	s.j.mu.Lock()
	for _, sg := range retired {
		if sg.isFree || sg == s.j.cur {
			t.Errorf("retired segment %s is free or current", filepath.Base(sg.path))
		}
		heads[sg] = sg.head
	}
	s.j.mu.Unlock()

	// Sent again with the limit lifted, as a sender retries a failure.
	for _, p := range failed {
		if err := store(p); err != nil {
			t.Errorf("store %s again: %v", filepath.Base(p), err)
		}
	}
	got = queued()
	if len(got) != len(key.Files) {
		t.Errorf("%d instances queued after the retries; want %d", len(got), len(key.Files))
	}
	s.j.mu.Lock()
	for sg, h := range heads {
		if sg.head != h {
			t.Errorf("retired segment %s took records after it failed", filepath.Base(sg.path))
		}
	}
	s.j.mu.Unlock()
}
