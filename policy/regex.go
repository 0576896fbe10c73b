package policy

import (
	"errors"
	"regexp"
	"regexp/syntax"
)

// compileRegex compiles a Go (RE2) regular expression. The error names the
// kind of mistake but never echoes the pattern, which may hold names.
func compileRegex(pattern string) (*regexp.Regexp, error) {
	re, err := regexp.Compile(pattern)
	if err != nil {
		var se *syntax.Error
		if errors.As(err, &se) {
			return nil, errors.New("invalid regular expression: " + string(se.Code))
		}
		return nil, errors.New("invalid regular expression")
	}
	return re, nil
}
