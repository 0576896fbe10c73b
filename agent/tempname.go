package agent

import "strings"

// isTempName reports whether a file name (not a path) looks like a file
// still being written or a system artefact: dotfiles (including AppleDouble
// "._x"), *.tmp, *.part, *.partial, *.crdownload, *.swp and names ending
// in "~". Such files are never taken from a watched folder.
func isTempName(name string) bool {
	if name == "" || strings.HasPrefix(name, ".") || strings.HasSuffix(name, "~") {
		return true
	}
	lower := strings.ToLower(name)
	for _, suf := range []string{".tmp", ".part", ".partial", ".crdownload", ".swp"} {
		if strings.HasSuffix(lower, suf) {
			return true
		}
	}
	return false
}
