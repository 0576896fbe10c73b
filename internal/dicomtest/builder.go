package dicomtest

import "fmt"

// builder fills one data set (or sequence item) and records what it plants.
type builder struct {
	g         *Generator
	ds        *dataset
	path      string   // attribute path prefix, "" or "XSequence[0]."
	tags      []uint32 // tag path of the enclosing sequences
	inProfile bool     // an enclosing sequence is in Table E.1-1 or private
	opts      Option   // options of the enclosing sequences
	rec       *[]Planted
}

// newBuilder starts a top-level data set.
func (g *Generator) newBuilder() *builder {
	return &builder{g: g, ds: &dataset{}, rec: new([]Planted)}
}

// vrOf returns the dictionary VR of t, panicking on an unknown tag: that is
// a bug in this package.
func vrOf(t uint32) string {
	vr, _, ok := dictEntry(t)
	if !ok {
		panic(fmt.Sprintf("dicomtest: tag (%04X,%04X) not in dictionary", t>>16, t&0xFFFF))
	}
	return vr
}

// str sets a text element with its dictionary VR; nothing is recorded.
func (b *builder) str(t uint32, v string) { b.ds.set(element{tag: t, vr: vrOf(t), str: v}) }

// strVR sets a text element with an explicit VR (private tags).
func (b *builder) strVR(t uint32, vr, v string) { b.ds.set(element{tag: t, vr: vr, str: v}) }

// num sets a US, SS, UL, SL or AT element with its dictionary VR.
func (b *builder) num(t uint32, v ...int64) { b.ds.set(element{tag: t, vr: vrOf(t), nums: v}) }

// numVR sets a numeric element with an explicit VR.
func (b *builder) numVR(t uint32, vr string, v ...int64) {
	b.ds.set(element{tag: t, vr: vr, nums: v})
}

// profileFor reports whether t (at this level) is covered by the profile and
// with which options.
func (b *builder) profileFor(t uint32) (bool, Option) {
	g := uint16(t >> 16)
	switch {
	case g%2 == 1:
		return true, 0
	case g >= 0x5000 && g <= 0x50FF:
		return true, 0
	case g >= 0x6000 && g <= 0x60FF && (t&0xFFFF == 0x3000 || t&0xFFFF == 0x4000):
		return true, 0
	}
	if row, ok := b.g.table[t]; ok {
		return true, row.opts
	}
	return false, 0
}

// record notes a planted value at tag t of this level.
func (b *builder) record(t uint32, value, class string, extra Option) {
	in, opts := b.profileFor(t)
	searchable := len(value) >= 6
	*b.rec = append(*b.rec, Planted{
		Value:      value,
		Class:      class,
		Path:       b.path + keywordOf(t),
		Tags:       append(append([]uint32(nil), b.tags...), t),
		InProfile:  b.inProfile || in,
		Searchable: searchable,
		Options:    b.opts | opts | extra,
	})
}

// plant sets a text element (dictionary VR) and records it.
func (b *builder) plant(t uint32, v, class string) {
	b.str(t, v)
	b.record(t, v, class, 0)
}

// plantVR sets a text element with an explicit VR and records it.
func (b *builder) plantVR(t uint32, vr, v, class string, extra Option) {
	b.strVR(t, vr, v)
	b.record(t, v, class, extra)
}

// plantRaw sets a binary element whose bytes contain token, and records the
// token.
func (b *builder) plantRaw(t uint32, vr string, raw []byte, token, class string) {
	b.ds.set(element{tag: t, vr: vr, raw: raw})
	b.record(t, token, class, 0)
}

// seq sets a sequence of n items filled by fill. Sequences alternate
// between defined and undefined length across the generator.
func (b *builder) seq(t uint32, n int, fill func(i int, ib *builder)) {
	b.seqVR(t, n, fill)
}

// seqVR is seq for any tag, including private ones (VR SQ given).
func (b *builder) seqVR(t uint32, n int, fill func(i int, ib *builder)) {
	in, opts := b.profileFor(t)
	el := element{tag: t, vr: "SQ", undefined: b.g.nextUndefined()}
	for i := range n {
		ib := &builder{
			g:         b.g,
			ds:        &dataset{},
			path:      fmt.Sprintf("%s%s[%d].", b.path, keywordOf(t), i),
			tags:      append(append([]uint32(nil), b.tags...), t),
			inProfile: b.inProfile || in,
			opts:      b.opts | opts,
			rec:       b.rec,
		}
		if fill != nil {
			fill(i, ib)
		}
		el.items = append(el.items, ib.ds)
	}
	b.ds.set(el)
}

// code fills a code sequence item.
func (b *builder) code(value, scheme, meaning string) {
	b.str(0x00080100, value)
	b.str(0x00080102, scheme)
	b.str(0x00080104, meaning)
}
