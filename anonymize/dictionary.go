package anonymize

import (
	dicomtag "github.com/suyashkumar/dicom/pkg/tag"
)

// TagByKeyword returns the tag of a DICOM dictionary keyword such as
// "PatientID".
func TagByKeyword(keyword string) (Tag, bool) {
	info, err := dicomtag.FindByKeyword(keyword)
	if err != nil {
		return 0, false
	}
	return NewTag(info.Tag.Group, info.Tag.Element), true
}

// Keyword returns the dictionary keyword of a tag, or "" when unknown.
func Keyword(t Tag) string {
	info, ok := lookupInfo(t)
	if !ok {
		return ""
	}
	return info.Keyword
}

// dictVR returns the dictionary VR of a public tag ("" when unknown). Tags
// with several VRs (US or SS) get the first.
func dictVR(t Tag) string {
	info, ok := lookupInfo(t)
	if !ok || len(info.VRs) == 0 {
		return ""
	}
	return info.VRs[0]
}

func lookupInfo(t Tag) (dicomtag.Info, bool) {
	info, err := dicomtag.Find(dicomtag.Tag{Group: t.Group(), Element: t.Element()})
	if err != nil {
		return dicomtag.Info{}, false
	}
	return info, true
}
