package policy

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Problem is one thing wrong with a policy file, located by line and column
// (1-based; 0 when unknown) and by the dotted path of the field, such as
// "rules[2].pattern". Messages never contain lookup table values.
type Problem struct {
	Line    int
	Column  int
	Field   string
	Message string
}

// String formats the problem as "line:col: field: message", leaving out
// the parts that are unknown.
func (p Problem) String() string {
	var b strings.Builder
	if p.Line > 0 {
		fmt.Fprintf(&b, "%d:", p.Line)
		if p.Column > 0 {
			fmt.Fprintf(&b, "%d:", p.Column)
		}
		b.WriteByte(' ')
	}
	if p.Field != "" {
		b.WriteString(p.Field)
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// ValidationError lists every problem found in a policy file. [Load] and
// [Parse] return it (check with errors.As) when the file is not a valid
// policy; a policy with problems is never partly used.
type ValidationError struct {
	// File is the name the policy was loaded or parsed under.
	File string
	// Problems are sorted by line and column.
	Problems []Problem
}

// Error prints one "file:line:col: field: message" line per problem.
func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = e.File + ":" + p.String()
	}
	return strings.Join(lines, "\n")
}

// sortProblems orders problems by position, keeping the discovery order of
// problems at the same position.
func sortProblems(ps []Problem) {
	slices.SortStableFunc(ps, func(a, b Problem) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column))
	})
}
