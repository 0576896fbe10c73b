package relay

import (
	"errors"

	"dicomgate/store"
)

// FHIR R4 ImagingStudy
//
// After each commit the relay (re)writes, beside the study's objects,
//
//	projects/<project>/studies/<study uid>/imagingstudy.json
//
// a FHIR R4 ImagingStudy built only from the pseudonymous metadata record
// (study, series and instance UIDs, SOP classes, modalities). It has no
// subject: the relay holds no patient identity, and R4 makes subject
// mandatory, so the core lab adds the Reference to its own trial subject
// (e.g. Patient/<trial subject id>) before loading the resource. Nor does
// it carry dates, descriptions or instance numbers, which the relay never
// sees. The same resource is served at
// GET /api/v1/projects/{project}/studies/{study}/imagingstudy and written
// by [Fetch] as DIR/<study uid>/imagingstudy.json.

// Codings of the ImagingStudy resource.
const (
	fhirDICOMUIDSystem  = "urn:dicom:uid"
	fhirModalitySystem  = "http://dicom.nema.org/resources/ontology/DCM"
	fhirSOPClassSystem  = "urn:ietf:rfc:3986"
	fhirUnknownModality = "OT" // DICOM "Other", when a file names none
)

// ImagingStudy is the subset of a FHIR R4 ImagingStudy resource the relay
// can fill from pseudonymous data.
type ImagingStudy struct {
	ResourceType      string          `json:"resourceType"`
	Identifier        []FHIRID        `json:"identifier"`
	Status            string          `json:"status"`
	Modality          []FHIRCoding    `json:"modality"`
	NumberOfSeries    int             `json:"numberOfSeries"`
	NumberOfInstances int             `json:"numberOfInstances"`
	Series            []ImagingSeries `json:"series"`
}

// FHIRID is a FHIR Identifier.
type FHIRID struct {
	System string `json:"system"`
	Value  string `json:"value"`
}

// FHIRCoding is a FHIR Coding.
type FHIRCoding struct {
	System string `json:"system"`
	Code   string `json:"code"`
}

// ImagingSeries is an ImagingStudy.series element.
type ImagingSeries struct {
	UID               string            `json:"uid"`
	Modality          FHIRCoding        `json:"modality"`
	NumberOfInstances int               `json:"numberOfInstances"`
	Instance          []ImagingInstance `json:"instance"`
}

// ImagingInstance is an ImagingStudy.series.instance element.
type ImagingInstance struct {
	UID      string     `json:"uid"`
	SOPClass FHIRCoding `json:"sopClass"`
	// Number is the instance number; the relay does not know it, so it is
	// omitted.
	Number int `json:"number,omitempty"`
}

// errEmptyStudy reports a study with no committed file.
var errEmptyStudy = errors.New("relay: imagingstudy: study has no committed file")

// buildImagingStudy returns the ImagingStudy of studyUID from its
// committed files (in ListFiles order: by series, then instance).
func buildImagingStudy(studyUID string, files []store.FileRecord) (*ImagingStudy, error) {
	if len(files) == 0 {
		return nil, errEmptyStudy
	}
	is := &ImagingStudy{
		ResourceType: "ImagingStudy",
		Identifier:   []FHIRID{{System: fhirDICOMUIDSystem, Value: "urn:oid:" + studyUID}},
		Status:       "available",
		Modality:     []FHIRCoding{},
		Series:       []ImagingSeries{},
	}
	seenMod := map[string]bool{}
	index := map[string]int{}
	for _, f := range files {
		mod := f.Modality
		if mod == "" {
			mod = fhirUnknownModality
		}
		if !seenMod[mod] {
			seenMod[mod] = true
			is.Modality = append(is.Modality, FHIRCoding{System: fhirModalitySystem, Code: mod})
		}
		i, ok := index[f.SeriesUID]
		if !ok {
			i = len(is.Series)
			index[f.SeriesUID] = i
			is.Series = append(is.Series, ImagingSeries{UID: f.SeriesUID,
				Modality: FHIRCoding{System: fhirModalitySystem, Code: mod}})
		}
		se := &is.Series[i]
		se.Instance = append(se.Instance, ImagingInstance{UID: f.InstanceUID,
			SOPClass: FHIRCoding{System: fhirSOPClassSystem, Code: "urn:oid:" + f.SOPClassUID}})
		se.NumberOfInstances++
		is.NumberOfInstances++
	}
	is.NumberOfSeries = len(is.Series)
	return is, nil
}

// imagingStudyKey is the object key of a study's ImagingStudy.
func imagingStudyKey(project, study string) (string, error) {
	if !validProject(project) || !validUID(study) {
		return "", errBadIdentifier
	}
	return "projects/" + project + "/studies/" + study + "/imagingstudy.json", nil
}
