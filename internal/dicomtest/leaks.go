package dicomtest

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"io"
	"strings"
)

// FindLeaks returns the planted values of key that a Basic Profile
// anonymiser must remove ([Key.MustGo]: InProfile and Searchable) and that
// occur in data. The search ignores ASCII case, also tries person names with
// '^' replaced by ' ', and inflates the data set of a deflated Part 10 file
// first. Every Planted whose Value is found is returned, so one leaked value
// planted at several paths appears several times.
func FindLeaks(data []byte, key *Key) []Planted {
	return key.Search(data, func(p Planted) bool { return p.InProfile && p.Searchable })
}

// Search returns the planted values accepted by keep that occur in data,
// searched as FindLeaks does.
func (k *Key) Search(data []byte, keep func(Planted) bool) []Planted {
	hay := asciiLower(searchable(data))
	found := map[string]bool{}
	var out []Planted
	for _, p := range k.Values {
		if !keep(p) {
			continue
		}
		hit, seen := found[p.Value]
		if !seen {
			hit = contains(hay, p.Value)
			found[p.Value] = hit
		}
		if hit {
			out = append(out, p)
		}
	}
	return out
}

// contains reports whether the lower-cased hay holds value, or value with
// '^' read as ' '.
func contains(hay []byte, value string) bool {
	v := asciiLower([]byte(value))
	if bytes.Contains(hay, v) {
		return true
	}
	if strings.Contains(value, "^") {
		return bytes.Contains(hay, bytes.ReplaceAll(v, []byte("^"), []byte(" ")))
	}
	return false
}

// asciiLower returns a copy of b with ASCII letters lower-cased; other bytes
// are unchanged.
func asciiLower(b []byte) []byte {
	out := make([]byte, len(b))
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		out[i] = c
	}
	return out
}

// searchable returns data, or for a deflated Part 10 file its meta group
// followed by the inflated data set (and the raw bytes, in case inflation
// fails part way).
func searchable(data []byte) []byte {
	end, ts, ok := metaInfo(data)
	if !ok || ts != DeflatedExplicitVRLittleEndian {
		return data
	}
	inflated, err := io.ReadAll(flate.NewReader(bytes.NewReader(data[end:])))
	out := append(append([]byte(nil), data[:end]...), inflated...)
	if err != nil {
		out = append(out, data[end:]...)
	}
	return out
}

// metaInfo parses the file meta group of a Part 10 file: the offset where
// the data set starts and the transfer syntax UID.
func metaInfo(data []byte) (end int, ts string, ok bool) {
	if len(data) < 144 || string(data[128:132]) != "DICM" || string(data[132:136]) != "\x02\x00\x00\x00" || string(data[136:138]) != "UL" {
		return 0, "", false
	}
	end = 144 + int(binary.LittleEndian.Uint32(data[140:144]))
	if end > len(data) {
		return 0, "", false
	}
	for p := 144; p+8 <= end; {
		g, e := binary.LittleEndian.Uint16(data[p:]), binary.LittleEndian.Uint16(data[p+2:])
		vr := string(data[p+4 : p+6])
		var n, hdr int
		if isLongVR(vr) {
			if p+12 > end {
				break
			}
			n, hdr = int(binary.LittleEndian.Uint32(data[p+8:])), 12
		} else {
			n, hdr = int(binary.LittleEndian.Uint16(data[p+6:])), 8
		}
		if p+hdr+n > end {
			break
		}
		if g == 0x0002 && e == 0x0010 {
			ts = strings.TrimRight(string(data[p+hdr:p+hdr+n]), "\x00 ")
		}
		p += hdr + n
	}
	return end, ts, true
}
