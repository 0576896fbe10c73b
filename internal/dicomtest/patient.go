package dicomtest

import (
	"fmt"
	"strings"
)

// patient holds the identity and study-level values of one fake patient;
// every file of the patient's study repeats them.
type patient struct {
	index                                 int
	name, id, issuer, birth, sex, age     string
	weight, size, address, phone          string
	otherID, otherName                    string
	studyUID, studyDate, studyTime        string
	accession, studyID, studyDesc         string
	referring, performing, reading, oper  string
	institution, instAddress, department  string
	station, serial, deviceUID, sourceAE  string
	forUID, requestedProcID, requestedUID string
	utf8                                  bool
}

// newPatient draws patient number index. Odd patients have a UTF-8 name.
func (g *Generator) newPatient(index int) *patient {
	v := g.v
	p := &patient{index: index, utf8: index%2 == 1}
	if p.utf8 {
		// The list of UTF-8 names is short: large corpora extend a name
		// already used with a numbered family-name suffix.
		p.name = v.unique(func() string {
			n := v.pick(utf8Names())
			if v.used[n] {
				fam, rest, _ := strings.Cut(n, "^")
				n = fmt.Sprintf("%s-%d^%s", fam, v.rng.IntN(1000), rest)
			}
			return n
		})
	} else {
		p.name = v.personName()
	}
	p.id = v.unique(func() string { return "H" + v.digits(8) })
	p.issuer = v.token("ID")
	p.birth = v.date(1935, 1999)
	p.sex = []string{"F", "M", "O"}[v.rng.IntN(3)]
	p.age = fmt.Sprintf("%03dY", 20+v.rng.IntN(70))
	p.weight = fmt.Sprintf("%d.%04d", 45+v.rng.IntN(70), 1000+v.rng.IntN(9000))
	p.size = fmt.Sprintf("1.%04d", 5000+v.rng.IntN(4900))
	p.address = v.address()
	p.phone = v.phone()
	p.otherID = v.token("ID")
	p.otherName = v.personName()
	p.studyUID = v.uid()
	p.studyDate = v.date(2005, 2020)
	p.studyTime = v.time()
	p.accession = v.unique(func() string { return "A" + v.digits(9) })
	p.studyID = v.token("ID")
	p.studyDesc = v.token("DESC")
	p.referring = v.personName()
	p.performing = v.token("NAME")
	p.reading = v.personName()
	p.oper = v.token("NAME")
	p.institution = v.unique(func() string { return "St " + v.pick(givenNames()) + " Royal Infirmary " + v.digits(3) })
	p.instAddress = v.address()
	p.department = v.token("INST")
	p.station = v.token("DEV")
	p.serial = v.unique(func() string { return "SN" + v.digits(9) })
	p.deviceUID = v.uid()
	p.sourceAE = v.token("AE")
	p.forUID = v.uid()
	p.requestedProcID = v.token("ID")
	p.requestedUID = v.uid()
	return p
}

// series holds the values shared by the instances of one series.
type series struct {
	uid, modality, desc, date, time string
	number                          int
}

// newSeries draws a series of patient p.
func (g *Generator) newSeries(p *patient, modality string, number int) *series {
	return &series{
		uid: g.v.uid(), modality: modality, number: number,
		desc: g.v.token("DESC"), date: p.studyDate, time: g.v.time(),
	}
}
