package policy

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"dicomgate/anonymize"
)

// repeatingGroupMask is the group mask of repeating groups such as 60xx.
const repeatingGroupMask = 0xFF00

// maxCreatorLen is the longest private creator (an LO value).
const maxCreatorLen = 64

// parseSelector parses a rule's tag: a dictionary keyword ("PatientID"), a
// public tag ("(0010,0020)"), a repeating group ("(60xx,4000)") or a private
// element under its creator ("(0019,{GEMS_ACQU_01}23)"). Parentheses are
// optional; hex digits are case-insensitive.
func parseSelector(s string) (anonymize.Selector, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return anonymize.Selector{}, errors.New("empty tag")
	}
	if !strings.ContainsAny(s, "(,") {
		return parseKeyword(s)
	}
	inner := s
	if strings.HasPrefix(s, "(") {
		if !strings.HasSuffix(s, ")") {
			return anonymize.Selector{}, errors.New("missing closing parenthesis in tag")
		}
		inner = s[1 : len(s)-1]
	}
	gs, es, ok := strings.Cut(inner, ",")
	if !ok {
		return anonymize.Selector{}, errors.New(`tag must look like "(gggg,eeee)"`)
	}
	gs, es = strings.TrimSpace(gs), strings.TrimSpace(es)

	if len(gs) == 4 && strings.EqualFold(gs[2:], "xx") {
		hi, err := parseHex(gs[:2], 2)
		if err != nil || hi&1 == 1 {
			return anonymize.Selector{}, errors.New(`repeating group must look like "60xx" (an even group)`)
		}
		el, err := parseHex(es, 4)
		if err != nil {
			return anonymize.Selector{}, errors.New("element must be 4 hex digits")
		}
		return anonymize.Selector{Tag: anonymize.NewTag(hi<<8, el), GroupMask: repeatingGroupMask}, nil
	}
	group, err := parseHex(gs, 4)
	if err != nil {
		return anonymize.Selector{}, errors.New("group must be 4 hex digits (or ggxx for a repeating group)")
	}
	if strings.HasPrefix(es, "{") {
		return parsePrivate(group, es)
	}
	el, err := parseHex(es, 4)
	if err != nil {
		return anonymize.Selector{}, errors.New("element must be 4 hex digits")
	}
	if group&1 == 1 {
		return anonymize.Selector{}, errors.New(`private tag needs its creator: write "(gggg,{CREATOR}ee)"`)
	}
	return anonymize.Selector{Tag: anonymize.NewTag(group, el)}, nil
}

// parseKeyword resolves a DICOM dictionary keyword.
func parseKeyword(s string) (anonymize.Selector, error) {
	for i, r := range s {
		letter := r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z'
		if !letter && (i == 0 || r < '0' || r > '9') {
			return anonymize.Selector{}, errors.New(`tag must be a keyword such as PatientID or look like "(gggg,eeee)"`)
		}
	}
	t, ok := anonymize.TagByKeyword(s)
	if !ok {
		return anonymize.Selector{}, fmt.Errorf("unknown DICOM keyword %q", s)
	}
	return anonymize.Selector{Tag: t}, nil
}

// parsePrivate parses "{CREATOR}ee" for an odd group.
func parsePrivate(group uint16, es string) (anonymize.Selector, error) {
	end := strings.IndexByte(es, '}')
	if end < 0 {
		return anonymize.Selector{}, errors.New("missing } after private creator")
	}
	creator := strings.TrimRight(es[1:end], " ")
	switch {
	case group&1 == 0:
		return anonymize.Selector{}, errors.New("private creator given for an even (public) group")
	case group < 0x0009 || group == 0xFFFF:
		return anonymize.Selector{}, errors.New("group cannot hold private elements")
	case creator == "":
		return anonymize.Selector{}, errors.New("empty private creator")
	case len(creator) > maxCreatorLen:
		return anonymize.Selector{}, errors.New("private creator longer than 64 characters")
	case strings.ContainsAny(creator, "\\{}"):
		return anonymize.Selector{}, errors.New("private creator contains \\, { or }")
	}
	for _, r := range creator {
		if r < 0x20 || r == 0x7F {
			return anonymize.Selector{}, errors.New("private creator contains a control character")
		}
	}
	off, err := parseHex(strings.TrimSpace(es[end+1:]), 2)
	if err != nil {
		return anonymize.Selector{}, errors.New("private element offset must be 2 hex digits after the creator")
	}
	return anonymize.Selector{Tag: anonymize.NewTag(group, off), PrivateCreator: creator}, nil
}

// parseHex parses exactly n hex digits.
func parseHex(s string, n int) (uint16, error) {
	if len(s) != n {
		return 0, errors.New("wrong length")
	}
	v, err := strconv.ParseUint(s, 16, 16)
	return uint16(v), err
}

// selectorString is the canonical text of a selector: upper-case hex,
// "(gggg,eeee)", "(ggxx,eeee)" or "(gggg,{CREATOR}ee)".
func selectorString(s anonymize.Selector) string {
	switch {
	case s.PrivateCreator != "":
		return fmt.Sprintf("(%04X,{%s}%02X)", s.Tag.Group(), s.PrivateCreator, s.Tag.Element()&0xFF)
	case s.GroupMask == repeatingGroupMask:
		return fmt.Sprintf("(%02Xxx,%04X)", s.Tag.Group()>>8, s.Tag.Element())
	default:
		return fmt.Sprintf("(%04X,%04X)", s.Tag.Group(), s.Tag.Element())
	}
}
