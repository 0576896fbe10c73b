package dicomtest

import "fmt"

// File is one generated DICOM Part 10 file.
type File struct {
	// Name is the file's path relative to the corpus root, '/'-separated.
	Name string
	// Data is the whole file, preamble included.
	Data []byte
	// TransferSyntax is the UID of the data set's transfer syntax.
	TransferSyntax string
}

// finish encodes the data set b built for patient p and returns the file,
// its description and the values planted in it, file meta included.
func (g *Generator) finish(b *builder, p *patient, info FileInfo) (File, []Planted, error) {
	data, err := encodeFile(b.ds, info.TransferSyntax, p.sourceAE)
	if err != nil {
		return File{}, nil, fmt.Errorf("dicomtest: %s: %w", info.Path, err)
	}
	recs := append([]Planted(nil), *b.rec...)
	recs = append(recs,
		Planted{Value: p.sourceAE, Class: ClassDevice, Path: "SourceApplicationEntityTitle",
			Tags: []uint32{0x00020016}, InProfile: true, Searchable: true},
		Planted{Value: info.SOPInstanceUID, Class: ClassUID, Path: "MediaStorageSOPInstanceUID",
			Tags: []uint32{0x00020003}, InProfile: true, Searchable: true, Options: OptRetainUIDs},
	)
	return File{Name: info.Path, Data: data, TransferSyntax: info.TransferSyntax}, recs, nil
}

// fileInfo describes a file about to be built.
func fileInfo(name string, p *patient, s *series, class, uid, ts string) FileInfo {
	return FileInfo{
		Path: name, Patient: p.index, Modality: s.modality, SOPClassUID: class,
		SOPInstanceUID: uid, SeriesInstanceUID: s.uid, StudyInstanceUID: p.studyUID,
		TransferSyntax: ts,
	}
}
