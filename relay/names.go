package relay

import (
	"errors"
	"strings"
)

// Limits of the identifiers that end up in object keys and file names.
const (
	maxUIDLen     = 64
	maxProjectLen = 64
	maxFileIDLen  = 128
	maxSiteLen    = 64
)

// validUID reports whether s is a DICOM UID: 1..64 characters of digits and
// dots with no empty component (so "." and ".." never pass).
func validUID(s string) bool {
	if s == "" || len(s) > maxUIDLen || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c != '.' && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// validProject reports whether s is a project ID: 1..64 characters of
// [a-z0-9-], starting with a letter or digit.
func validProject(s string) bool {
	if s == "" || len(s) > maxProjectLen || s[0] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '-' && (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// validFileID reports whether s is a file ID the relay accepts: 1..128
// characters of [A-Za-z0-9._-], starting with a letter or digit.
func validFileID(s string) bool {
	return validName(s, maxFileIDLen)
}

// validSite reports whether s is a site name: 1..64 characters of
// [A-Za-z0-9._-], starting with a letter or digit.
func validSite(s string) bool {
	return validName(s, maxSiteLen)
}

func validName(s string, maxLen int) bool {
	if s == "" || len(s) > maxLen || !isAlnum(s[0]) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && c != '.' && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
}

// objectKeys are the store keys of one committed file.
type objectKeys struct {
	object   string
	manifest string
}

var errBadIdentifier = errors.New("relay: identifier outside the allowed character set")

// instanceKeys returns the keys of one file of an instance. Every component
// is checked, so keys hold nothing but pseudonymous identifiers. The file
// ID (a hash of the anonymised content) is part of the key: two different
// files for one instance arriving at once (through two relays) can never
// write the same object, so the one the database commits always points at
// its own bytes and the other is moved to conflicts/.
func instanceKeys(project, study, series, sop, fileID string) (objectKeys, error) {
	if !validProject(project) || !validUID(study) || !validUID(series) || !validUID(sop) || !validFileID(fileID) {
		return objectKeys{}, errBadIdentifier
	}
	base := "projects/" + project + "/studies/" + study + "/series/" + series + "/" + sop + "." + fileID
	return objectKeys{object: base + ".dgseal", manifest: base + ".manifest"}, nil
}

// conflictKeys returns the keys of a refused conflicting upload.
func conflictKeys(project, sop, fileID string) (objectKeys, error) {
	if !validProject(project) || !validUID(sop) || !validFileID(fileID) {
		return objectKeys{}, errBadIdentifier
	}
	base := "conflicts/" + project + "/" + sop + "/" + fileID
	return objectKeys{object: base + ".dgseal", manifest: base + ".manifest"}, nil
}
