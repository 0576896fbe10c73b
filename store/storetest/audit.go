package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"dicomgate/store"
)

// RunAuditStore runs the AuditStore conformance suite. newStore must return
// a new, empty store each time it is called (once per subtest; subtests run
// in parallel) and should close it at the test's cleanup.
func RunAuditStore(t *testing.T, newStore func(t *testing.T) store.AuditStore) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.AuditStore)
	}{
		{"AppendRead", testAuditAppendRead},
		{"AppendInvalid", testAuditAppendInvalid},
		{"AppendConcurrent", testAuditAppendConcurrent},
		{"Query", testAuditQuery},
		{"Checkpoints", testAuditCheckpoints},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, newStore(t))
		})
	}
}

// AuditAppendSimple appends an entry for actor and action at the next
// index, storing one hash per entry at id index (a stand-in for the audit
// package's tree hashes). It returns the stored entry; on failure it
// reports an error on t and returns an entry with Index -1.
func AuditAppendSimple(t *testing.T, s store.AuditStore, at time.Time, actor, action, project, study string) *store.AuditEntry {
	t.Helper()
	e, err := s.AppendAudit(t.Context(), func(n int64, hashes store.AuditHashReader) (store.AuditAppend, error) {
		if n > 0 { // the previous entry's hash must be readable inside the transaction
			if _, err := hashes([]int64{n - 1}); err != nil {
				return store.AuditAppend{}, err
			}
		}
		return store.AuditAppend{
			Entry: store.AuditEntry{Index: n, Time: at, Actor: actor, Action: action, Project: project,
				Study: study, Data: fmt.Appendf(nil, `{"index":%d}`, n)},
			HashStart: n,
			Hashes:    [][]byte{fmt.Appendf(nil, "h%d", n)},
		}, nil
	})
	if err != nil {
		t.Errorf("AppendAudit: %v", err) // not Fatal: called from goroutines too
		return &store.AuditEntry{Index: -1}
	}
	return e
}

func testAuditAppendRead(t *testing.T, s store.AuditStore) {
	ctx := t.Context()
	if n, err := s.AuditSize(ctx); err != nil || n != 0 {
		t.Fatalf("AuditSize of empty = %d, %v", n, err)
	}
	at := time.Date(2025, 1, 2, 3, 4, 5, 6789, time.UTC)
	for i := range 5 {
		e := AuditAppendSimple(t, s, at, "alice", "login.success", "p", "")
		if e.Index != int64(i) || !e.Time.Equal(at.Truncate(time.Microsecond)) {
			t.Fatalf("entry %d: got index %d time %v", i, e.Index, e.Time)
		}
	}
	if n, err := s.AuditSize(ctx); err != nil || n != 5 {
		t.Fatalf("AuditSize = %d, %v; want 5", n, err)
	}
	es, err := s.ReadAudit(ctx, 1, 4)
	if err != nil || len(es) != 3 || es[0].Index != 1 || es[2].Index != 3 || string(es[0].Data) != `{"index":1}` {
		t.Fatalf("ReadAudit(1, 4) = %+v, %v", es, err)
	}
	hs, err := s.ReadAuditHashes(ctx, []int64{4, 0})
	if err != nil || string(hs[0]) != "h4" || string(hs[1]) != "h0" {
		t.Fatalf("ReadAuditHashes = %q, %v", hs, err)
	}
	if _, err := s.ReadAuditHashes(ctx, []int64{99}); !errors.Is(err, store.ErrNotExist) {
		t.Fatalf("ReadAuditHashes(missing) = %v; want ErrNotExist", err)
	}
	if hr, err := s.AuditHashRange(ctx, 1, 3); err != nil || len(hr) != 2 || hr[0].ID != 1 || string(hr[1].Hash) != "h2" {
		t.Fatalf("AuditHashRange(1, 3) = %v, %v", hr, err)
	}
}

func testAuditAppendInvalid(t *testing.T, s store.AuditStore) {
	cases := map[string]func(n int64) store.AuditEntry{
		"wrong index": func(n int64) store.AuditEntry {
			return store.AuditEntry{Index: n + 1, Actor: "a", Action: "x", Data: []byte("{}")}
		},
		"no actor":  func(n int64) store.AuditEntry { return store.AuditEntry{Index: n, Action: "x", Data: []byte("{}")} },
		"no action": func(n int64) store.AuditEntry { return store.AuditEntry{Index: n, Actor: "a", Data: []byte("{}")} },
		"no data":   func(n int64) store.AuditEntry { return store.AuditEntry{Index: n, Actor: "a", Action: "x"} },
	}
	for name, mk := range cases {
		_, err := s.AppendAudit(t.Context(), func(n int64, _ store.AuditHashReader) (store.AuditAppend, error) {
			return store.AuditAppend{Entry: mk(n)}, nil
		})
		if !errors.Is(err, store.ErrInvalidRecord) {
			t.Errorf("%s: AppendAudit = %v; want ErrInvalidRecord", name, err)
		}
	}
	boom := errors.New("boom")
	if _, err := s.AppendAudit(t.Context(), func(int64, store.AuditHashReader) (store.AuditAppend, error) {
		return store.AuditAppend{}, boom
	}); !errors.Is(err, boom) {
		t.Errorf("AppendAudit with failing build = %v; want boom", err)
	}
	if n, err := s.AuditSize(t.Context()); err != nil || n != 0 {
		t.Fatalf("AuditSize after failed appends = %d, %v; want 0", n, err)
	}
}

func testAuditAppendConcurrent(t *testing.T, s store.AuditStore) {
	const workers, each = 4, 25
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for range each {
				AuditAppendSimple(t, s, time.Now(), fmt.Sprintf("w%d", w), "x", "", "")
			}
		})
	}
	wg.Wait()
	es, err := s.ReadAudit(t.Context(), 0, 1<<62)
	if err != nil || len(es) != workers*each {
		t.Fatalf("ReadAudit = %d entries, %v; want %d", len(es), err, workers*each)
	}
	for i, e := range es {
		if e.Index != int64(i) || string(e.Data) != fmt.Sprintf(`{"index":%d}`, i) {
			t.Fatalf("entry %d has index %d, data %s", i, e.Index, e.Data)
		}
	}
}

func testAuditQuery(t *testing.T, s store.AuditStore) {
	base := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	for i := range 20 {
		AuditAppendSimple(t, s, base.Add(time.Duration(i)*time.Hour), fmt.Sprintf("u%d", i%2),
			[]string{"login.success", "download"}[i%4/2], fmt.Sprintf("p%d", i%3), fmt.Sprintf("s%d", i%5))
	}
	tests := []struct {
		name string
		f    store.AuditFilter
		want []int64
	}{
		{"all", store.AuditFilter{}, seq(0, 20)},
		{"time", store.AuditFilter{Since: base.Add(3 * time.Hour), Until: base.Add(6 * time.Hour)}, []int64{3, 4, 5}},
		{"actor", store.AuditFilter{Actor: "u1", Until: base.Add(8 * time.Hour)}, []int64{1, 3, 5, 7}},
		{"action", store.AuditFilter{Action: "download", Until: base.Add(8 * time.Hour)}, []int64{2, 3, 6, 7}},
		{"project study", store.AuditFilter{Project: "p0", Study: "s0"}, []int64{0, 15}},
		{"none", store.AuditFilter{Actor: "nobody"}, nil},
	}
	for _, tt := range tests {
		var got []int64
		after := int64(-1)
		for { // page by 3 to exercise keyset paging
			es, err := s.QueryAudit(t.Context(), tt.f, after, 3)
			if err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			for _, e := range es {
				got = append(got, e.Index)
				after = e.Index
			}
			if len(es) < 3 {
				break
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("%s: got %v; want %v", tt.name, got, tt.want)
		}
	}
}

// seq returns lo, lo+1, ..., hi-1.
func seq(lo, hi int64) []int64 {
	var s []int64
	for i := lo; i < hi; i++ {
		s = append(s, i)
	}
	return s
}

func testAuditCheckpoints(t *testing.T, s store.AuditStore) {
	ctx := t.Context()
	if _, err := s.LatestAuditCheckpoint(ctx); !errors.Is(err, store.ErrNotExist) {
		t.Fatalf("LatestAuditCheckpoint of empty = %v; want ErrNotExist", err)
	}
	if _, err := s.PutAuditCheckpoint(ctx, store.AuditCheckpoint{Size: 1}); !errors.Is(err, store.ErrInvalidRecord) {
		t.Fatalf("PutAuditCheckpoint without note = %v; want ErrInvalidRecord", err)
	}
	for _, size := range []int64{5, 9, 7} {
		if _, err := s.PutAuditCheckpoint(ctx, store.AuditCheckpoint{Size: size, Note: fmt.Appendf(nil, "n%d\n", size)}); err != nil {
			t.Fatal(err)
		}
	}
	cs, err := s.AuditCheckpoints(ctx)
	if err != nil || len(cs) != 3 || cs[0].Size != 5 || cs[2].Size != 7 || string(cs[1].Note) != "n9\n" || cs[0].CreatedAt.IsZero() {
		t.Fatalf("AuditCheckpoints = %+v, %v", cs, err)
	}
	c, err := s.LatestAuditCheckpoint(ctx)
	if err != nil || c.Size != 9 {
		t.Fatalf("LatestAuditCheckpoint = %+v, %v; want size 9", c, err)
	}
}
