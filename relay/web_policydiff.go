package relay

import (
	"strings"

	"dicomgate/store"
)

// diffLine is one line of a policy revision diff: Op is ' ' (unchanged),
// '-' (only in the previous revision) or '+' (only in this one).
type diffLine struct {
	Op   string
	Text string
}

// lineDiff returns the line diff from a to b (longest common subsequence;
// policy files are small, so the quadratic table is fine).
func lineDiff(a, b string) []diffLine {
	x, y := strings.Split(strings.TrimRight(a, "\n"), "\n"), strings.Split(strings.TrimRight(b, "\n"), "\n")
	if a == "" {
		x = nil
	}
	n, m := len(x), len(y)
	lcs := make([][]int, n+1)
	for i := range lcs {
		lcs[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if x[i] == y[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out []diffLine
	i, j := 0, 0
	for i < n && j < m {
		switch {
		case x[i] == y[j]:
			out = append(out, diffLine{" ", x[i]})
			i, j = i+1, j+1
		case lcs[i+1][j] >= lcs[i][j+1]:
			out = append(out, diffLine{"-", x[i]})
			i++
		default:
			out = append(out, diffLine{"+", y[j]})
			j++
		}
	}
	for ; i < n; i++ {
		out = append(out, diffLine{"-", x[i]})
	}
	for ; j < m; j++ {
		out = append(out, diffLine{"+", y[j]})
	}
	return out
}

// previousRevision returns the revision saved before rev in history, or
// nil for the first one.
func previousRevision(history []store.PolicyRevision, rev *store.PolicyRevision) *store.PolicyRevision {
	var prev *store.PolicyRevision
	for i := range history {
		h := &history[i]
		if h.ID < rev.ID && (prev == nil || h.ID > prev.ID) {
			prev = h
		}
	}
	return prev
}
