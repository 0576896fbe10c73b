package storetest

import (
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"sync"
	"testing"
	"time"

	"dicomgate/store"
)

// RunMetaDB runs the MetaDB conformance suite. newDB must return a new,
// empty database each time it is called (once per subtest; subtests run
// in parallel) and should close it at the test's cleanup.
func RunMetaDB(t *testing.T, newDB func(t *testing.T) store.MetaDB) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, db store.MetaDB)
	}{
		{"CommitGet", testCommitGet},
		{"CommitIdempotent", testCommitIdempotent},
		{"CommitConflict", testCommitConflict},
		{"CommitInvalid", testCommitInvalid},
		{"CommitConcurrent", testCommitConcurrent},
		{"FindInstance", testFindInstance},
		{"Studies", testStudies},
		{"Tokens", testTokens},
		{"TokenConcurrentRedeem", testTokenConcurrentRedeem},
		{"Agents", testAgents},
		{"WireGuardPeers", testWireGuardPeers},
		{"WireGuardPeersConcurrent", testWireGuardPeersConcurrent},
		{"Downloads", testDownloads},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newDB(t))
		})
	}
}

// t0 is a fixed time with sub-microsecond digits, which are dropped.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)

// us truncates to the stored precision.
func us(t time.Time) time.Time { return t.Truncate(time.Microsecond).UTC() }

// file returns a valid record; n varies the IDs and hashes.
func file(n int, study, series, modality string) store.FileRecord {
	return store.FileRecord{
		FileID:      fmt.Sprintf("file-%d", n),
		Project:     "trial-a",
		Site:        "site-1",
		AgentID:     "agent-1",
		StudyUID:    study,
		SeriesUID:   series,
		InstanceUID: fmt.Sprintf("2.25.%d", 1000+n),
		SOPClassUID: "1.2.840.10008.5.1.4.1.1.2",
		Modality:    modality,
		ObjectKey:   fmt.Sprintf("trial-a/objects/file-%d", n),
		Size:        int64(100 * n),
		SHA256:      fmt.Sprintf("%064x", n),
		PlainSHA256: fmt.Sprintf("%064x", 1<<20+n),
		Manifest:    []byte(fmt.Sprintf(`{"n":%d}`, n)),
		Receipt:     []byte{0, 1, 2, byte(n)},
		CommittedAt: t0.Add(time.Duration(n) * time.Minute),
	}
}

// commit commits rec, expecting a fresh insert.
func commit(t *testing.T, db store.MetaDB, rec store.FileRecord) {
	t.Helper()
	existing, err := db.CommitFile(t.Context(), rec)
	if err != nil || existing != nil {
		t.Fatalf("CommitFile(%s) = %v, %v; want a fresh insert", rec.FileID, existing, err)
	}
}

// sameFile compares records at the stored time precision.
func sameFile(t *testing.T, got *store.FileRecord, want store.FileRecord) {
	t.Helper()
	want.CommittedAt = us(want.CommittedAt)
	if got == nil || !reflect.DeepEqual(*got, want) {
		t.Errorf("record = %+v\nwant     %+v", got, want)
	}
}

func testCommitGet(t *testing.T, db store.MetaDB) {
	rec := file(1, "2.25.1", "2.25.11", "CT")
	commit(t, db, rec)
	got, err := db.GetFile(t.Context(), "file-1")
	if err != nil {
		t.Fatalf("GetFile: %v", err)
	}
	sameFile(t, got, rec)
	if _, err := db.GetFile(t.Context(), "nope"); !errors.Is(err, store.ErrNotExist) {
		t.Errorf("GetFile missing: err = %v, want ErrNotExist", err)
	}

	// A zero CommittedAt means now.
	rec2 := file(2, "2.25.1", "2.25.11", "CT")
	rec2.CommittedAt = time.Time{}
	before := time.Now().Add(-time.Second)
	commit(t, db, rec2)
	got, err = db.GetFile(t.Context(), "file-2")
	if err != nil || got.CommittedAt.Before(before) || got.CommittedAt.Location() != time.UTC {
		t.Errorf("zero CommittedAt stored as %v (err %v), want now in UTC", got, err)
	}
}

func testCommitIdempotent(t *testing.T, db store.MetaDB) {
	rec := file(1, "2.25.1", "2.25.11", "CT")
	commit(t, db, rec)

	// Same FileID again: the existing record, no error.
	again := rec
	again.Receipt = []byte("another receipt")
	existing, err := db.CommitFile(t.Context(), again)
	if err != nil {
		t.Fatalf("re-send: %v", err)
	}
	sameFile(t, existing, rec)

	// Same instance, new FileID, same plaintext (re-sealed): no error.
	resealed := rec
	resealed.FileID = "file-1-resealed"
	resealed.SHA256 = fmt.Sprintf("%064x", 999)
	existing, err = db.CommitFile(t.Context(), resealed)
	if err != nil {
		t.Fatalf("re-sealed: %v", err)
	}
	sameFile(t, existing, rec)
	if _, err := db.GetFile(t.Context(), "file-1-resealed"); !errors.Is(err, store.ErrNotExist) {
		t.Errorf("re-sealed copy stored as a second file (err %v)", err)
	}
	if c, err := db.ListConflicts(t.Context(), "trial-a"); err != nil || len(c) != 0 {
		t.Errorf("ListConflicts = %v, %v; want none", c, err)
	}
}

func testCommitConflict(t *testing.T, db store.MetaDB) {
	rec := file(1, "2.25.1", "2.25.11", "CT")
	commit(t, db, rec)
	other := file(2, "2.25.1", "2.25.11", "CT")
	other.InstanceUID = rec.InstanceUID // a different file for the same instance
	other.Site, other.AgentID = "site-2", "agent-2"
	for range 2 { // a re-sent conflict is recorded once
		existing, err := db.CommitFile(t.Context(), other)
		if !errors.Is(err, store.ErrConflict) {
			t.Fatalf("CommitFile conflicting: err = %v, want ErrConflict", err)
		}
		sameFile(t, existing, rec)
	}
	if _, err := db.GetFile(t.Context(), "file-2"); !errors.Is(err, store.ErrNotExist) {
		t.Errorf("conflicting file was stored (err %v)", err)
	}
	cs, err := db.ListConflicts(t.Context(), "trial-a")
	if err != nil || len(cs) != 1 {
		t.Fatalf("ListConflicts = %+v, %v; want one", cs, err)
	}
	c := cs[0]
	want := store.Conflict{Project: "trial-a", InstanceUID: rec.InstanceUID, ExistingFileID: "file-1",
		FileID: "file-2", Site: "site-2", AgentID: "agent-2", SHA256: other.SHA256,
		PlainSHA256: other.PlainSHA256, DetectedAt: c.DetectedAt}
	if c != want || c.DetectedAt.IsZero() {
		t.Errorf("conflict = %+v\nwant       %+v", c, want)
	}
	if cs, _ := db.ListConflicts(t.Context(), "trial-b"); len(cs) != 0 {
		t.Errorf("ListConflicts(other project) = %v", cs)
	}
	// The same instance UID in another project is no conflict.
	elsewhere := other
	elsewhere.Project = "trial-b"
	commit(t, db, elsewhere)
}

func testCommitInvalid(t *testing.T, db store.MetaDB) {
	tests := []struct {
		name  string
		clear func(*store.FileRecord)
	}{
		{"file_id", func(r *store.FileRecord) { r.FileID = "" }},
		{"project", func(r *store.FileRecord) { r.Project = "" }},
		{"instance_uid", func(r *store.FileRecord) { r.InstanceUID = "" }},
		{"object_key", func(r *store.FileRecord) { r.ObjectKey = "" }},
		{"sha256", func(r *store.FileRecord) { r.SHA256 = "" }},
		{"plain_sha256", func(r *store.FileRecord) { r.PlainSHA256 = "" }},
		{"size", func(r *store.FileRecord) { r.Size = -1 }},
	}
	for _, tc := range tests {
		rec := file(1, "2.25.1", "2.25.11", "CT")
		tc.clear(&rec)
		if _, err := db.CommitFile(t.Context(), rec); !errors.Is(err, store.ErrInvalidRecord) {
			t.Errorf("without %s: err = %v, want ErrInvalidRecord", tc.name, err)
		}
	}
}

func testCommitConcurrent(t *testing.T, db store.MetaDB) {
	// Eight writers race to commit eight different files for one instance,
	// and each also re-sends one shared file.
	const writers = 8
	shared := file(100, "2.25.2", "2.25.21", "MR")
	var wg sync.WaitGroup
	var mu sync.Mutex
	inserted, conflicts, resent := 0, 0, 0
	for i := range writers {
		wg.Go(func() {
			rec := file(i+1, "2.25.1", "2.25.11", "CT")
			rec.InstanceUID = "2.25.4242"
			existing, err := db.CommitFile(t.Context(), rec)
			existing2, err2 := db.CommitFile(t.Context(), shared)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil && existing == nil:
				inserted++
			case errors.Is(err, store.ErrConflict) && existing != nil:
				conflicts++
			default:
				t.Errorf("racing CommitFile = %v, %v", existing, err)
			}
			switch {
			case err2 == nil && existing2 == nil:
			case err2 == nil && existing2 != nil && existing2.FileID == shared.FileID:
				resent++
			default:
				t.Errorf("racing re-send = %v, %v", existing2, err2)
			}
		})
	}
	wg.Wait()
	if inserted != 1 || conflicts != writers-1 || resent != writers-1 {
		t.Errorf("inserted %d, conflicts %d, re-sent %d; want 1, %d, %d", inserted, conflicts, resent, writers-1, writers-1)
	}
	if cs, err := db.ListConflicts(t.Context(), "trial-a"); err != nil || len(cs) != writers-1 {
		t.Errorf("ListConflicts = %d, %v; want %d", len(cs), err, writers-1)
	}
}

func testStudies(t *testing.T, db store.MetaDB) {
	if st, err := db.ListStudies(t.Context(), "trial-a"); err != nil || len(st) != 0 {
		t.Errorf("ListStudies on empty = %v, %v", st, err)
	}
	recs := []store.FileRecord{
		file(1, "2.25.1", "2.25.11", "CT"),
		file(2, "2.25.1", "2.25.11", "CT"),
		file(3, "2.25.1", "2.25.12", "SR"),
		file(4, "2.25.1", "2.25.12", ""),
		file(5, "2.25.2", "2.25.21", "MR"),
	}
	for _, r := range recs {
		commit(t, db, r)
	}
	otherProject := file(6, "2.25.1", "2.25.99", "US")
	otherProject.Project = "trial-b"
	commit(t, db, otherProject)

	got, err := db.ListStudies(t.Context(), "trial-a")
	if err != nil {
		t.Fatalf("ListStudies: %v", err)
	}
	want := []store.StudySummary{
		{StudyUID: "2.25.1", Modalities: []string{"CT", "SR"}, Series: 2, Files: 4, Bytes: 1000,
			FirstAt: us(recs[0].CommittedAt), LastAt: us(recs[3].CommittedAt)},
		{StudyUID: "2.25.2", Modalities: []string{"MR"}, Series: 1, Files: 1, Bytes: 500,
			FirstAt: us(recs[4].CommittedAt), LastAt: us(recs[4].CommittedAt)},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ListStudies = %+v\nwant          %+v", got, want)
	}

	files, err := db.ListFiles(t.Context(), "trial-a", "2.25.1")
	if err != nil || len(files) != 4 {
		t.Fatalf("ListFiles = %d files, %v; want 4", len(files), err)
	}
	for i, f := range files {
		sameFile(t, &f, recs[i])
	}
	if files, _ := db.ListFiles(t.Context(), "trial-a", "2.25.404"); len(files) != 0 {
		t.Errorf("ListFiles(unknown study) = %v", files)
	}
}

func testTokens(t *testing.T, db store.MetaDB) {
	ctx := t.Context()
	tok := store.EnrolmentToken{Hash: "h-valid", Project: "trial-a", Site: "site-1",
		ExpiresAt: t0.Add(time.Hour), CreatedBy: "admin"}
	for _, tk := range []store.EnrolmentToken{tok,
		{Hash: "h-expired", Project: "trial-a", Site: "site-1", ExpiresAt: t0, CreatedBy: "admin"}} {
		if err := db.CreateEnrolmentToken(ctx, tk); err != nil {
			t.Fatalf("CreateEnrolmentToken: %v", err)
		}
	}
	if err := db.CreateEnrolmentToken(ctx, tok); !errors.Is(err, store.ErrConflict) {
		t.Errorf("duplicate token: err = %v, want ErrConflict", err)
	}
	if err := db.CreateEnrolmentToken(ctx, store.EnrolmentToken{Hash: "h"}); !errors.Is(err, store.ErrInvalidRecord) {
		t.Errorf("incomplete token: err = %v, want ErrInvalidRecord", err)
	}

	got, err := db.RedeemEnrolmentToken(ctx, "h-valid", t0.Add(time.Minute))
	if err != nil {
		t.Fatalf("RedeemEnrolmentToken: %v", err)
	}
	want := tok
	want.ExpiresAt, want.UsedAt = us(tok.ExpiresAt), us(t0.Add(time.Minute))
	if *got != want {
		t.Errorf("redeemed = %+v\nwant       %+v", *got, want)
	}
	tests := []struct {
		name string
		hash string
		now  time.Time
	}{
		{"used", "h-valid", t0.Add(2 * time.Minute)},
		{"expired exactly", "h-expired", t0},
		{"expired", "h-expired", t0.Add(time.Second)},
		{"unknown", "h-unknown", t0},
	}
	for _, tc := range tests {
		if _, err := db.RedeemEnrolmentToken(ctx, tc.hash, tc.now); !errors.Is(err, store.ErrTokenInvalid) {
			t.Errorf("%s: err = %v, want ErrTokenInvalid", tc.name, err)
		}
	}
}

func testTokenConcurrentRedeem(t *testing.T, db store.MetaDB) {
	tok := store.EnrolmentToken{Hash: "h-race", Project: "trial-a", Site: "site-1", ExpiresAt: t0.Add(time.Hour)}
	if err := db.CreateEnrolmentToken(t.Context(), tok); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	won := 0
	for range 8 {
		wg.Go(func() {
			_, err := db.RedeemEnrolmentToken(t.Context(), "h-race", t0)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won++
			case !errors.Is(err, store.ErrTokenInvalid):
				t.Errorf("racing redeem: %v", err)
			}
		})
	}
	wg.Wait()
	if won != 1 {
		t.Errorf("%d redeemers succeeded, want exactly 1", won)
	}
}

func testAgents(t *testing.T, db store.MetaDB) {
	ctx := t.Context()
	a := store.Agent{ID: "agent-b", Project: "trial-a", Site: "site-1", CertSerial: "0a1b",
		PublicKey: []byte{1, 2, 3}, EnrolledAt: t0}
	b := store.Agent{ID: "agent-a", Project: "trial-b", Site: "site-9", CertSerial: "ff", EnrolledAt: t0}
	for _, ag := range []store.Agent{a, b} {
		if err := db.PutAgent(ctx, ag); err != nil {
			t.Fatalf("PutAgent: %v", err)
		}
	}
	if err := db.PutAgent(ctx, store.Agent{ID: "x"}); !errors.Is(err, store.ErrInvalidRecord) {
		t.Errorf("incomplete agent: err = %v, want ErrInvalidRecord", err)
	}
	got, err := db.GetAgent(ctx, "agent-b")
	want := a
	want.EnrolledAt = us(t0)
	if err != nil || !reflect.DeepEqual(*got, want) {
		t.Errorf("GetAgent = %+v, %v\nwant       %+v", got, err, want)
	}
	if _, err := db.GetAgent(ctx, "nope"); !errors.Is(err, store.ErrNotExist) {
		t.Errorf("GetAgent missing: err = %v, want ErrNotExist", err)
	}
	list := func(project string) []string {
		agents, err := db.ListAgents(ctx, project)
		if err != nil {
			t.Fatalf("ListAgents: %v", err)
		}
		var ids []string
		for _, ag := range agents {
			ids = append(ids, ag.ID)
		}
		return ids
	}
	if got := list(""); !reflect.DeepEqual(got, []string{"agent-a", "agent-b"}) {
		t.Errorf("ListAgents(all) = %v", got)
	}
	if got := list("trial-a"); !reflect.DeepEqual(got, []string{"agent-b"}) {
		t.Errorf("ListAgents(trial-a) = %v", got)
	}

	// Replace: the new certificate serial sticks.
	a.CertSerial = "0a1c"
	if err := db.PutAgent(ctx, a); err != nil {
		t.Fatal(err)
	}
	// Revoke; a second revoke keeps the first time.
	if err := db.RevokeAgent(ctx, "agent-b", t0.Add(time.Hour)); err != nil {
		t.Fatalf("RevokeAgent: %v", err)
	}
	if err := db.RevokeAgent(ctx, "agent-b", t0.Add(2*time.Hour)); err != nil {
		t.Fatalf("second RevokeAgent: %v", err)
	}
	if err := db.RevokeAgent(ctx, "nope", t0); !errors.Is(err, store.ErrNotExist) {
		t.Errorf("RevokeAgent missing: err = %v, want ErrNotExist", err)
	}
	// Revocation is final: a PutAgent with Revoked false does not undo it.
	if err := db.PutAgent(ctx, a); err != nil {
		t.Fatal(err)
	}
	got, err = db.GetAgent(ctx, "agent-b")
	if err != nil || !got.Revoked || !got.RevokedAt.Equal(t0.Add(time.Hour).Truncate(time.Microsecond)) || got.CertSerial != "0a1c" {
		t.Errorf("after revoke and put: %+v, %v; want revoked at %v with serial 0a1c", got, err, t0.Add(time.Hour))
	}
}

// wgPeer returns a valid peer; n varies the key and address.
func wgPeer(agentID string, n byte) store.WireGuardPeer {
	key := make([]byte, 32)
	key[0], key[31] = n, 0xa5
	return store.WireGuardPeer{AgentID: agentID, PublicKey: key,
		TunnelIP: netip.AddrFrom4([4]byte{10, 99, 0, n}), CreatedAt: t0}
}

func testWireGuardPeers(t *testing.T, db store.MetaDB) {
	ctx := t.Context()
	if got, err := db.ListWireGuardPeers(ctx); err != nil || got != nil {
		t.Fatalf("ListWireGuardPeers(empty) = %v, %v; want nil, nil", got, err)
	}
	b, a := wgPeer("agent-b", 2), wgPeer("agent-a", 3)
	a.TunnelIP = netip.MustParseAddr("fd00:99::3")
	for _, p := range []store.WireGuardPeer{b, a} {
		if err := db.PutWireGuardPeer(ctx, p); err != nil {
			t.Fatalf("PutWireGuardPeer(%s): %v", p.AgentID, err)
		}
	}
	for _, bad := range []store.WireGuardPeer{
		{PublicKey: b.PublicKey, TunnelIP: b.TunnelIP},
		{AgentID: "x", PublicKey: []byte{1, 2}, TunnelIP: b.TunnelIP},
		{AgentID: "x", PublicKey: b.PublicKey},
	} {
		if err := db.PutWireGuardPeer(ctx, bad); !errors.Is(err, store.ErrInvalidRecord) {
			t.Errorf("PutWireGuardPeer(%+v) = %v, want ErrInvalidRecord", bad, err)
		}
	}
	want := []store.WireGuardPeer{a, b}
	for i := range want {
		want[i].CreatedAt = us(t0)
	}
	got, err := db.ListWireGuardPeers(ctx)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("ListWireGuardPeers = %+v, %v\nwant %+v", got, err, want)
	}

	// Another agent may take neither the key nor the address.
	stealKey := wgPeer("agent-c", 9)
	stealKey.PublicKey = b.PublicKey
	stealIP := wgPeer("agent-c", 9)
	stealIP.TunnelIP = b.TunnelIP
	for _, p := range []store.WireGuardPeer{stealKey, stealIP} {
		if err := db.PutWireGuardPeer(ctx, p); !errors.Is(err, store.ErrConflict) {
			t.Errorf("PutWireGuardPeer taking agent-b's key or address = %v, want ErrConflict", err)
		}
	}
	// The same agent replaces its own peer.
	b2 := wgPeer("agent-b", 7)
	if err := db.PutWireGuardPeer(ctx, b2); err != nil {
		t.Fatalf("replace peer: %v", err)
	}
	if err := db.DeleteWireGuardPeer(ctx, "agent-a"); err != nil {
		t.Fatalf("DeleteWireGuardPeer: %v", err)
	}
	if err := db.DeleteWireGuardPeer(ctx, "agent-a"); !errors.Is(err, store.ErrNotExist) {
		t.Errorf("second DeleteWireGuardPeer = %v, want ErrNotExist", err)
	}
	b2.CreatedAt = us(t0)
	got, err = db.ListWireGuardPeers(ctx)
	if err != nil || !reflect.DeepEqual(got, []store.WireGuardPeer{b2}) {
		t.Fatalf("after replace and delete: %+v, %v; want only %+v", got, err, b2)
	}
	// A freed address and key may be taken again.
	c := wgPeer("agent-c", 3)
	c.TunnelIP = a.TunnelIP
	if err := db.PutWireGuardPeer(ctx, c); err != nil {
		t.Errorf("taking a deleted peer's address: %v", err)
	}
}

// testWireGuardPeersConcurrent has agents race for one tunnel address, as
// relays sharing a database allocating at once would: exactly one wins.
func testWireGuardPeersConcurrent(t *testing.T, db store.MetaDB) {
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			p := wgPeer(fmt.Sprintf("agent-%d", i), byte(10+i))
			p.TunnelIP = netip.MustParseAddr("10.99.0.200")
			errs[i] = db.PutWireGuardPeer(t.Context(), p)
		})
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, store.ErrConflict):
			t.Errorf("loser's error = %v, want ErrConflict", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d agents got 10.99.0.200, want exactly 1", won)
	}
}

func testDownloads(t *testing.T, db store.MetaDB) {
	ctx := t.Context()
	ds := []store.Download{
		{FileID: "file-1", Principal: "reader@lab", At: t0},
		{FileID: "file-1", Principal: "other@lab", At: t0.Add(time.Second)},
		{FileID: "file-2", Principal: "reader@lab", At: t0},
	}
	for _, d := range ds {
		if err := db.RecordDownload(ctx, d); err != nil {
			t.Fatalf("RecordDownload: %v", err)
		}
	}
	if err := db.RecordDownload(ctx, store.Download{FileID: "file-1"}); !errors.Is(err, store.ErrInvalidRecord) {
		t.Errorf("download without principal: err = %v, want ErrInvalidRecord", err)
	}
	got, err := db.ListDownloads(ctx, "file-1")
	want := []store.Download{
		{FileID: "file-1", Principal: "reader@lab", At: us(t0)},
		{FileID: "file-1", Principal: "other@lab", At: us(t0.Add(time.Second))},
	}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("ListDownloads = %+v, %v\nwant           %+v", got, err, want)
	}
}

// testFindInstance checks the optional store.InstanceFinder; a MetaDB
// without it skips.
func testFindInstance(t *testing.T, db store.MetaDB) {
	f, ok := db.(store.InstanceFinder)
	if !ok {
		t.Skip("MetaDB does not implement store.InstanceFinder")
	}
	ctx := t.Context()
	if _, err := f.FindInstance(ctx, "trial-a", "2.25.1001"); !errors.Is(err, store.ErrNotExist) {
		t.Fatalf("FindInstance on an empty db: err = %v, want ErrNotExist", err)
	}
	a, b := file(1, "1.2.3", "1.2.3.1", "CT"), file(2, "1.2.4", "1.2.4.1", "MR")
	commit(t, db, a)
	commit(t, db, b)
	got, err := f.FindInstance(ctx, "trial-a", b.InstanceUID)
	if err != nil {
		t.Fatalf("FindInstance: %v", err)
	}
	sameFile(t, got, b)
	if _, err := f.FindInstance(ctx, "trial-b", a.InstanceUID); !errors.Is(err, store.ErrNotExist) {
		t.Fatalf("FindInstance in another project: err = %v, want ErrNotExist", err)
	}
}
