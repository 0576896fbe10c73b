package anonymize

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"math"
	"strconv"
	"strings"
	"testing"
)

// ctAttr is a keyword and its value; numbers are written as text and
// encoded for the keyword's dictionary VR.
type ctAttr struct{ keyword, value string }

// ctAttrs are the top-level attributes of a typical vendor CT slice.
func ctAttrs() []ctAttr {
	return []ctAttr{
		{"SpecificCharacterSet", "ISO_IR 100"}, {"ImageType", `ORIGINAL\PRIMARY\AXIAL`},
		{"InstanceCreationDate", "20240131"}, {"InstanceCreationTime", "101512.123"},
		{"SOPClassUID", synthCTImageStorage}, {"SOPInstanceUID", synthSOPInstance},
		{"StudyDate", "20240131"}, {"SeriesDate", "20240131"}, {"AcquisitionDate", "20240131"},
		{"ContentDate", "20240131"}, {"StudyTime", "101000"}, {"SeriesTime", "101200"},
		{"AcquisitionTime", "101230.5"}, {"ContentTime", "101231"}, {"AccessionNumber", "PHI-ACC-778899"},
		{"Modality", "CT"}, {"Manufacturer", "ACME Medical"}, {"InstitutionName", "PHI-INST General Hospital"},
		{"InstitutionAddress", "PHI-ADDR 1 Main Street"}, {"ReferringPhysicianName", "PHI-REF^Doctor"},
		{"StationName", "CTSTATION01"}, {"StudyDescription", "CT HEAD WO CONTRAST"},
		{"SeriesDescription", "AXIAL 1.25mm"}, {"InstitutionalDepartmentName", "Radiology"},
		{"PerformingPhysicianName", "PHI-PERF^Doctor"}, {"OperatorsName", "PHI-OP^Tech"},
		{"ManufacturerModelName", "Scanner 9000"}, {"PatientName", "PHI-NAME^Jane^Q"},
		{"PatientID", "PHI-ID-0042"}, {"IssuerOfPatientID", "HOSP"}, {"PatientBirthDate", "19700101"},
		{"PatientSex", "F"}, {"OtherPatientIDs", "PHI-OID-1"}, {"PatientAge", "054Y"},
		{"PatientSize", "1.65"}, {"PatientWeight", "60"}, {"AdditionalPatientHistory", "PHI-HIST headache"},
		{"ContrastBolusAgent", "NONE"}, {"BodyPartExamined", "HEAD"}, {"ScanOptions", "HELICAL MODE"},
		{"SliceThickness", "1.25"}, {"KVP", "120"}, {"DataCollectionDiameter", "500"},
		{"DeviceSerialNumber", "SN123456"}, {"SoftwareVersions", "v1.2.3"}, {"ProtocolName", "HEAD ROUTINE"},
		{"ReconstructionDiameter", "250"}, {"DistanceSourceToDetector", "946.7"},
		{"DistanceSourceToPatient", "541"}, {"GantryDetectorTilt", "0"}, {"TableHeight", "160"},
		{"RotationDirection", "CW"}, {"ExposureTime", "1000"}, {"XRayTubeCurrent", "300"},
		{"Exposure", "300"}, {"FilterType", "BODY FILTER"}, {"GeneratorPower", "36"},
		{"FocalSpots", "0.7"}, {"ConvolutionKernel", "STANDARD"}, {"PatientPosition", "HFS"},
		{"RevolutionTime", "1"}, {"SingleCollimationWidth", "0.625"}, {"TotalCollimationWidth", "40"},
		{"TableSpeed", "39.37"}, {"TableFeedPerRotation", "39.37"}, {"SpiralPitchFactor", "0.984"},
		{"CTDIvol", "55.2"}, {"StudyInstanceUID", synthStudy}, {"SeriesInstanceUID", synthSeries},
		{"StudyID", "PHI-SID-1"}, {"SeriesNumber", "3"}, {"AcquisitionNumber", "1"}, {"InstanceNumber", "42"},
		{"ImagePositionPatient", `-125\-125\-52.5`}, {"ImageOrientationPatient", `1\0\0\0\1\0`},
		{"FrameOfReferenceUID", "1.2.826.0.1.3680043.2.1125.7.4"}, {"PositionReferenceIndicator", "SN"},
		{"SliceLocation", "-52.5"}, {"ImageComments", "PHI-NOTE patient moved"},
		{"SamplesPerPixel", "1"}, {"PhotometricInterpretation", "MONOCHROME2"}, {"Rows", "512"},
		{"Columns", "512"}, {"PixelSpacing", `0.488\0.488`}, {"BitsAllocated", "16"},
		{"BitsStored", "12"}, {"HighBit", "11"}, {"PixelRepresentation", "0"},
		{"WindowCenter", `40\400`}, {"WindowWidth", `80\1500`}, {"RescaleIntercept", "-1024"},
		{"RescaleSlope", "1"}, {"RescaleType", "HU"}, {"WindowCenterWidthExplanation", `BRAIN\BONE`},
		{"LossyImageCompression", "00"}, {"RequestedProcedureDescription", "CT HEAD"},
		{"PerformedProcedureStepStartDate", "20240131"}, {"PerformedProcedureStepStartTime", "101000"},
		{"PerformedProcedureStepID", "PHI-PPS-1"}, {"PerformedProcedureStepDescription", "CT HEAD"},
	}
}

// ctSlice builds a 512×512 16-bit CT slice in syntax s: about 120 header
// attributes with sequences and a private block, then native pixel data.
func ctSlice(tb testing.TB, s syntax) []byte {
	tb.Helper()
	ord := s.order().(binary.AppendByteOrder)
	attr := func(keyword, value string) *element {
		t, ok := TagByKeyword(keyword)
		if !ok {
			tb.Fatalf("no keyword %s", keyword)
		}
		vr := dictVR(t)
		e := &element{tag: t, vr: vr}
		parts := strings.Split(value, `\`)
		switch vr {
		case "US", "SS":
			for _, p := range parts {
				n, _ := strconv.Atoi(p)
				e.value = ord.AppendUint16(e.value, uint16(n))
			}
		case "UL", "SL":
			for _, p := range parts {
				n, _ := strconv.Atoi(p)
				e.value = ord.AppendUint32(e.value, uint32(n))
			}
		case "FL":
			for _, p := range parts {
				f, _ := strconv.ParseFloat(p, 32)
				e.value = ord.AppendUint32(e.value, math.Float32bits(float32(f)))
			}
		case "FD":
			for _, p := range parts {
				f, _ := strconv.ParseFloat(p, 64)
				e.value = ord.AppendUint64(e.value, math.Float64bits(f))
			}
		default:
			e.value = []byte(value)
		}
		return e
	}
	code := func(value, scheme, meaning string) *dataset {
		return synthItem(attr("CodeValue", value), attr("CodingSchemeDesignator", scheme), attr("CodeMeaning", meaning))
	}
	ds := &dataset{}
	for _, a := range ctAttrs() {
		ds.set(attr(a.keyword, a.value))
	}
	ds.set(synthSeq(0x00081032, code("CTHEAD", "99ACME", "CT head")))
	ds.set(synthSeq(0x00081140,
		synthItem(attr("ReferencedSOPClassUID", synthCTImageStorage), attr("ReferencedSOPInstanceUID", synthRefInstance)),
		synthItem(attr("ReferencedSOPClassUID", synthCTImageStorage), attr("ReferencedSOPInstanceUID", "1.2.826.0.1.3680043.2.1125.7.1.2")),
	))
	ds.set(synthSeq(0x00081111, synthItem(
		attr("ReferencedSOPClassUID", "1.2.840.10008.3.1.2.3.3"), attr("ReferencedSOPInstanceUID", "1.2.826.0.1.3680043.2.1125.7.5"))))
	ds.set(synthSeq(0x00400275, synthItem(
		attr("RequestedProcedureID", "PHI-RP-1"), attr("ScheduledProcedureStepID", "PHI-SPS-1"),
		synthSeq(0x00400008, code("CTHEAD", "99ACME", "CT head")),
	)))
	ds.set(synthSeq(0x00189346, synthItem(synthSeq(0x00080220, code("113691", "DCM", "IEC Body Dosimetry Phantom")))))
	// A vendor's private block.
	ds.set(synthStr(0x00090010, "LO", "GEMS_IDEN_01"))
	ds.set(synthStr(0x00190010, "LO", "GEMS_ACQU_01"))
	ds.set(synthStr(0x00430010, "LO", "GEMS_PARM_01"))
	for i := range 6 {
		ds.set(synthStr(NewTag(0x0009, 0x1001+uint16(i)), "LO", "PHI-PRIV value "+strconv.Itoa(i)))
		ds.set(synthStr(NewTag(0x0019, 0x1023+uint16(i)), "DS", strconv.Itoa(i)+".5"))
		ds.set(&element{tag: NewTag(0x0043, 0x1010+uint16(i)), vr: "OB", value: bytes.Repeat([]byte{byte(i)}, 64)})
	}
	ds.set(&element{tag: 0x7FE00010, vr: "OW", value: synthPattern(512 * 512 * 2)})
	return synthEncode(tb, s, false, ds.elems...).data
}

func TestCTSliceIsRealistic(t *testing.T) {
	data := ctSlice(t, synthSyntax(t, tsExplicitLE))
	ds, _ := synthReparse(t, data)
	n := len(ds.elems)
	if n < 110 || n > 140 || len(data) < 520_000 || len(data) > 540_000 {
		t.Errorf("CT slice has %d attributes in %d bytes, want about 120 in 530 kB", n, len(data))
	}
	var out bytes.Buffer
	if _, err := synthAnonymizer(t, nil).Anonymize(context.Background(), bytes.NewReader(data), &out); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(out.Bytes(), []byte(synthPHI)) {
		t.Error("output holds a planted value")
	}
}

func BenchmarkAnonymizeCTSlice(b *testing.B) {
	data := ctSlice(b, synthSyntax(b, tsExplicitLE))
	a := synthAnonymizer(b, nil)
	ctx := context.Background()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.Anonymize(ctx, bytes.NewReader(data), io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAnonymizeCTSliceParallel(b *testing.B) {
	data := ctSlice(b, synthSyntax(b, tsExplicitLE))
	a := synthAnonymizer(b, nil)
	ctx := context.Background()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := a.Anonymize(ctx, bytes.NewReader(data), io.Discard); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
