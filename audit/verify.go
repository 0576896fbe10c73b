package audit

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"dicomgate/store"
)

// Reason says what verification found wrong.
type Reason string

// Reasons of a [Problem].
const (
	// ReasonEdited: the entry's data, or a column copied from it, differs
	// from what was appended (or its data is not canonical).
	ReasonEdited Reason = "edited"
	// ReasonDeleted: no entry at this index (a gap, or a log shorter than
	// a signed checkpoint).
	ReasonDeleted Reason = "deleted"
	// ReasonInserted: an entry that was never appended here: a forged row,
	// or one whose index does not fit.
	ReasonInserted Reason = "inserted"
	// ReasonReordered: the entry holds another index's genuine contents.
	ReasonReordered Reason = "reordered"
	// ReasonHashes: a stored tree hash was altered (the entries are fine,
	// but the next checkpoint would be refused).
	ReasonHashes Reason = "stored hash altered"
	// ReasonCheckpoint: the entries do not hash to a signed checkpoint's
	// root, and no single entry could be named (the stored hashes were
	// rewritten as well): Index is the first entry the previous good
	// checkpoint does not cover.
	ReasonCheckpoint Reason = "checkpoint mismatch"
	// ReasonSignature: a stored checkpoint is malformed or its signature
	// does not verify with any known key.
	ReasonSignature Reason = "bad checkpoint signature"
)

// Problem is one thing verification found wrong.
type Problem struct {
	// Index is the entry concerned, or -1 for a checkpoint alone.
	Index int64 `json:"index"`
	// Reason says what is wrong.
	Reason Reason `json:"reason"`
	// Detail explains, naming indexes and ids only.
	Detail string `json:"detail,omitempty"`
	// Checkpoint is the id of the checkpoint concerned, or 0.
	Checkpoint int64 `json:"checkpoint,omitempty"`
}

// String formats p for people.
func (p Problem) String() string {
	s := string(p.Reason)
	if p.Index >= 0 {
		s = fmt.Sprintf("entry %d: %s", p.Index, p.Reason)
	} else if p.Checkpoint != 0 {
		s = fmt.Sprintf("checkpoint %d: %s", p.Checkpoint, p.Reason)
	}
	if p.Detail != "" {
		s += ": " + p.Detail
	}
	return s
}

// VerifyResult is the outcome of [Log.Verify].
type VerifyResult struct {
	// OK reports that no problem was found.
	OK bool `json:"ok"`
	// Size is the log's size (one past the highest index).
	Size int64 `json:"size"`
	// Checkpoints is the number of checkpoints checked.
	Checkpoints int `json:"checkpoints"`
	// Latest is the largest valid checkpoint, the one the log was verified
	// against; nil if there is none.
	Latest *Checkpoint `json:"latest,omitempty"`
	// Unsealed is the number of entries after Latest. They are checked
	// against the stored hashes only: no signature covers them yet.
	Unsealed int64 `json:"unsealed"`
	// First is the first problem: the lowest entry index, else the first
	// checkpoint problem. Nil when OK.
	First *Problem `json:"first,omitempty"`
	// Problems lists every problem found, entry problems by index first
	// (at most maxProblems).
	Problems []Problem `json:"problems,omitempty"`
}

// Err returns nil when r is OK, else a [*VerifyError] for r.First.
func (r *VerifyResult) Err() error {
	if r.OK {
		return nil
	}
	return &VerifyError{Problem: *r.First}
}

// maxProblems caps VerifyResult.Problems.
const maxProblems = 100

// verifyPage is how many entries or hashes Verify reads at once.
const verifyPage = 5000

// Verify checks the whole log. It re-hashes every entry, rebuilds the
// tree with tlog, opens every stored checkpoint with verifiers (all relay
// keys, current and retired: see [NewVerifiers]) and checks that the tree
// of that size has the signed root, and compares every stored hash with
// the rebuilt ones. It names the first bad entry and why (see [Reason]).
// The returned error is for failures to read the log; a log that fails
// verification is reported in the result (see [VerifyResult.Err]).
//
// Verify holds about 150 bytes per entry in memory.
func (l *Log) Verify(ctx context.Context, verifiers note.Verifiers) (*VerifyResult, error) {
	if verifiers == nil {
		return nil, ErrNoVerifier
	}
	v := &verifier{st: l.st}
	if err := v.run(ctx, verifiers); err != nil {
		return nil, err
	}
	return v.result(), nil
}

// verifier holds the state of one Verify run.
type verifier struct {
	st   store.AuditStore
	size int64
	// Per index: the leaf hash of the row's data, whether a row exists,
	// and the index written inside its data (-1 if undecodable).
	leaf     []tlog.Hash
	present  []bool
	embedded []int64
	// tree is the stored hashes rebuilt from the rows.
	tree []tlog.Hash
	// dbLeaf is the stored leaf hash of each index, if any.
	dbLeaf  []tlog.Hash
	dbHasLf []bool
	// interior is the first entry under the first altered non-leaf
	// stored hash (-1: none), covering interiorSpan entries.
	interior, interiorSpan int64
	problems               []Problem
	cps                    int
	latest                 *Checkpoint
}

// add records a problem.
func (v *verifier) add(p Problem) { v.problems = append(v.problems, p) }

// run does the checks.
func (v *verifier) run(ctx context.Context, verifiers note.Verifiers) error {
	size, err := v.st.AuditSize(ctx)
	if err != nil {
		return fmt.Errorf("audit: verify: %w", err)
	}
	v.size = size
	v.leaf = make([]tlog.Hash, size)
	v.present = make([]bool, size)
	v.embedded = make([]int64, size)
	bad := make([]Reason, size) // row-level findings before classification
	for from := int64(0); from < size; from += verifyPage {
		rows, err := v.st.ReadAudit(ctx, from, min(from+verifyPage, size))
		if err != nil {
			return fmt.Errorf("audit: verify: %w", err)
		}
		for _, r := range rows {
			i := r.Index
			v.present[i] = true
			v.leaf[i] = tlog.RecordHash(r.Data)
			v.embedded[i] = -1
			e, err := decodeEntry(r.Data)
			switch {
			case err != nil:
				bad[i] = ReasonEdited
			case e.Index != i:
				v.embedded[i] = e.Index
				bad[i] = ReasonInserted // refined below: reordered if genuine
			case !columnsMatch(r, e):
				v.embedded[i] = i
				bad[i] = ReasonEdited
			default:
				v.embedded[i] = i
			}
		}
	}
	if err := v.rebuild(); err != nil {
		return err
	}
	if err := v.compareStored(ctx); err != nil {
		return err
	}
	v.classify(bad)
	v.addInterior()
	return v.checkpoints(ctx, verifiers)
}

// columnsMatch reports whether the indexed columns copy the entry's data.
func columnsMatch(r store.AuditEntry, e Entry) bool {
	return r.Time.Equal(e.Time) && r.Actor == e.Actor && r.Action == string(e.Action) &&
		r.Project == e.Project && r.Study == e.Study
}

// rebuild computes the stored hashes of the tree whose leaves are the
// rows' data, in memory, with tlog. A missing row counts as a zero leaf.
func (v *verifier) rebuild() error {
	v.tree = make([]tlog.Hash, 0, tlog.StoredHashCount(v.size))
	r := tlog.HashReaderFunc(func(ids []int64) ([]tlog.Hash, error) {
		hs := make([]tlog.Hash, len(ids))
		for i, id := range ids {
			if id >= int64(len(v.tree)) {
				return nil, fmt.Errorf("audit: verify: hash %d not yet computed", id)
			}
			hs[i] = v.tree[id]
		}
		return hs, nil
	})
	for n := range v.size {
		hs, err := tlog.StoredHashesForRecordHash(n, v.leaf[n], r)
		if err != nil {
			return fmt.Errorf("audit: verify: %w", err)
		}
		v.tree = append(v.tree, hs...)
	}
	return nil
}

// treeReader reads the rebuilt tree.
func (v *verifier) treeReader() tlog.HashReader {
	return tlog.HashReaderFunc(func(ids []int64) ([]tlog.Hash, error) {
		hs := make([]tlog.Hash, len(ids))
		for i, id := range ids {
			if id < 0 || id >= int64(len(v.tree)) {
				return nil, fmt.Errorf("audit: verify: no hash %d", id)
			}
			hs[i] = v.tree[id]
		}
		return hs, nil
	})
}

// compareStored reads every stored hash, keeps the leaf ones for
// classify, and reports the first altered non-leaf hash whose entries
// are otherwise fine (ReasonHashes).
func (v *verifier) compareStored(ctx context.Context) error {
	v.dbLeaf = make([]tlog.Hash, v.size)
	v.dbHasLf = make([]bool, v.size)
	total := tlog.StoredHashCount(v.size)
	interior := int64(-1) // record of the first altered interior hash
	for from := int64(0); from < total; from += verifyPage {
		hs, err := v.st.AuditHashRange(ctx, from, min(from+verifyPage, total))
		if err != nil {
			return fmt.Errorf("audit: verify: %w", err)
		}
		for _, h := range hs {
			level, n := tlog.SplitStoredHashIndex(h.ID)
			if level == 0 && n < v.size && len(h.Hash) == tlog.HashSize {
				v.dbLeaf[n], v.dbHasLf[n] = tlog.Hash(h.Hash), true
				continue
			}
			if interior < 0 && (len(h.Hash) != tlog.HashSize || tlog.Hash(h.Hash) != v.tree[h.ID]) {
				interior, v.interiorSpan = n<<level, 1<<level // the entries under the altered node
			}
		}
	}
	v.interior = interior
	return nil
}

// addInterior reports the altered interior hash found by compareStored,
// unless an entry it covers was already named (which explains it).
func (v *verifier) addInterior() {
	if v.interior < 0 {
		return
	}
	for _, p := range v.problems {
		if p.Index >= v.interior && p.Index < v.interior+v.interiorSpan {
			return
		}
	}
	v.add(Problem{Index: v.interior, Reason: ReasonHashes,
		Detail: fmt.Sprintf("a stored tree hash over entries %d to %d differs from the one rebuilt from them", v.interior, v.interior+v.interiorSpan-1)})
}

// classify turns the row findings and the stored leaf hashes into
// problems, in index order.
func (v *verifier) classify(bad []Reason) {
	for i := range v.size {
		switch {
		case !v.present[i]:
			v.add(Problem{Index: i, Reason: ReasonDeleted, Detail: "no entry at this index"})
		case bad[i] == ReasonInserted:
			j := v.embedded[i]
			if j >= 0 && j < v.size && v.dbHasLf[j] && v.dbLeaf[j] == v.leaf[i] {
				v.add(Problem{Index: i, Reason: ReasonReordered, Detail: fmt.Sprintf("holds the contents of entry %d", j)})
			} else {
				v.add(Problem{Index: i, Reason: ReasonInserted, Detail: fmt.Sprintf("its data claims index %d", j)})
			}
		case !v.dbHasLf[i]:
			v.add(Problem{Index: i, Reason: ReasonInserted, Detail: "no stored tree hash: never appended through the log"})
		case v.dbLeaf[i] != v.leaf[i] && i+1 < v.size && v.present[i+1] && v.embedded[i+1] == i && v.dbLeaf[i] == v.leaf[i+1]:
			v.add(Problem{Index: i, Reason: ReasonInserted, Detail: "the genuine entry follows it, shifted"})
		case bad[i] == ReasonEdited:
			v.add(Problem{Index: i, Reason: ReasonEdited, Detail: "columns or data not as appended"})
		case v.dbLeaf[i] != v.leaf[i]:
			v.add(Problem{Index: i, Reason: ReasonEdited, Detail: "data does not match its stored tree hash"})
		}
	}
}

// checkpoints opens every checkpoint and checks the rebuilt tree against
// it. A root mismatch is reported on its own (ReasonCheckpoint) only if no
// entry below its size was already named.
func (v *verifier) checkpoints(ctx context.Context, verifiers note.Verifiers) error {
	cs, err := v.st.AuditCheckpoints(ctx)
	if err != nil {
		return fmt.Errorf("audit: verify: %w", err)
	}
	// Ascending size, so that a mismatch can name the range since the
	// last good checkpoint.
	slices.SortStableFunc(cs, func(a, b store.AuditCheckpoint) int { return cmp.Compare(a.Size, b.Size) })
	tree := v.treeReader()
	var good int64 // size of the largest checkpoint matched so far
	for _, c := range cs {
		v.cps++
		cp, err := openCheckpoint(c, verifiers)
		if err != nil {
			v.add(Problem{Index: -1, Checkpoint: c.ID, Reason: ReasonSignature, Detail: err.Error()})
			continue
		}
		if cp.Size > v.size {
			v.add(Problem{Index: v.size, Checkpoint: c.ID, Reason: ReasonDeleted,
				Detail: fmt.Sprintf("the log has %d entries; signed checkpoint %d covers %d", v.size, c.ID, cp.Size)})
			continue
		}
		h, err := tlog.TreeHash(cp.Size, tree)
		if err != nil {
			return fmt.Errorf("audit: verify: %w", err)
		}
		if h != cp.Hash {
			if !v.entryProblemBelow(cp.Size) {
				v.add(Problem{Index: good, Checkpoint: c.ID, Reason: ReasonCheckpoint,
					Detail: fmt.Sprintf("entries %d to %d do not hash to signed checkpoint %d (size %d)", good, cp.Size-1, c.ID, cp.Size)})
			}
			continue
		}
		good = max(good, cp.Size)
		if v.latest == nil || cp.Size >= v.latest.Size {
			v.latest = cp
		}
	}
	return nil
}

// entryProblemBelow reports whether a problem names an entry below size.
func (v *verifier) entryProblemBelow(size int64) bool {
	for _, p := range v.problems {
		if p.Index >= 0 && p.Index < size {
			return true
		}
	}
	return false
}

// result sorts the problems and builds the result.
func (v *verifier) result() *VerifyResult {
	slices.SortStableFunc(v.problems, func(a, b Problem) int {
		switch {
		case a.Index < 0 && b.Index >= 0:
			return 1
		case a.Index >= 0 && b.Index < 0:
			return -1
		case a.Index < b.Index:
			return -1
		case a.Index > b.Index:
			return 1
		}
		return 0
	})
	r := &VerifyResult{OK: len(v.problems) == 0, Size: v.size, Checkpoints: v.cps, Latest: v.latest, Unsealed: v.size}
	if v.latest != nil {
		r.Unsealed = v.size - v.latest.Size
	}
	if !r.OK {
		r.First = &v.problems[0]
		r.Problems = v.problems[:min(len(v.problems), maxProblems)]
	}
	return r
}
