package dicomtest

// Generator makes synthetic DICOM data. It is deterministic: the same seed
// and the same sequence of calls give the same bytes. A Generator is not
// safe for concurrent use.
type Generator struct {
	seed  uint64
	v     *valueSource
	table map[uint32]profileAttr
	seqN  int
	bench *benchSeries
}

// New returns a generator seeded with seed.
func New(seed uint64) *Generator {
	t := map[uint32]profileAttr{}
	for _, a := range profileTable() {
		t[a.tag] = a
	}
	return &Generator{seed: seed, v: newValueSource(seed), table: t}
}

// nextUndefined alternates sequences between defined and undefined length.
func (g *Generator) nextUndefined() bool {
	g.seqN++
	return g.seqN%2 == 0
}
