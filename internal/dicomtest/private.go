package dicomtest

import "fmt"

// Private creators used by the generator.
const (
	creatorACME    = "ACME_SECRET_1.0"   // unknown to every safe list
	creatorGEMS    = "GEMS_PARM_01"      // (0043,xx27) is on the safe list
	creatorSiemens = "SIEMENS MR HEADER" // (0019,xx0C) is on the safe list
)

// blob returns n pseudo-random bytes with token embedded at offset 8.
func (g *Generator) blob(n int, token string) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(g.v.rng.Uint32())
	}
	copy(b[8:], token)
	return b
}

// acmePrivate writes the unknown creator's block in group 0009: an LO, a
// private SQ holding a private SQ, and an OB blob.
func (g *Generator) acmePrivate(b *builder) {
	v := g.v
	b.strVR(0x00090010, "LO", creatorACME)
	b.plantVR(0x00091001, "LO", v.token("PRIV"), ClassPrivate, 0)
	b.seqVR(0x00091002, 1, func(_ int, ib *builder) {
		ib.strVR(0x00090010, "LO", creatorACME)
		ib.plantVR(0x00091001, "LO", v.token("PRIV"), ClassPrivate, 0)
		ib.seqVR(0x00091003, 2, func(_ int, jb *builder) {
			jb.strVR(0x00090010, "LO", creatorACME)
			jb.plantVR(0x00091001, "LO", v.token("PRIV"), ClassPrivate, 0)
			jb.plantVR(0x00091005, "SH", v.token("NAME"), ClassName, 0)
		})
	})
	tok := v.token("PRIV")
	b.plantRaw(0x00091004, "OB", g.blob(64, tok), tok, ClassPrivate)
}

// gemsPrivate writes GEMS_PARM_01 in group 0043: the safe Scan Pitch Ratio
// and an element that is not on the safe list.
func (g *Generator) gemsPrivate(b *builder) {
	v := g.v
	b.strVR(0x00430010, "LO", creatorGEMS)
	ratio := v.unique(func() string { return fmt.Sprintf("%d.%04d:1", v.rng.IntN(2), v.rng.IntN(10000)) })
	b.plantVR(0x00431027, "SH", ratio, ClassPrivate, OptRetainSafePrivate)
	b.plantVR(0x00431062, "SH", v.token("PRIV"), ClassPrivate, 0)
}

// siemensPrivate writes SIEMENS MR HEADER in group 0019: the safe B Value
// and an element that is not on the safe list.
func (g *Generator) siemensPrivate(b *builder) {
	v := g.v
	b.strVR(0x00190010, "LO", creatorSiemens)
	b.plantVR(0x0019100C, "IS", v.digits(7), ClassPrivate, OptRetainSafePrivate)
	b.plantVR(0x00191009, "LO", v.token("PRIV"), ClassPrivate, 0)
}

// overlay writes overlay group 6000 over a rows×cols image; the overlay
// bitmap carries a token.
func (g *Generator) overlay(b *builder, rows, cols int) {
	v := g.v
	b.numVR(0x60000010, "US", int64(rows))
	b.numVR(0x60000011, "US", int64(cols))
	b.strVR(0x60000022, "LO", "synthetic region outline")
	b.strVR(0x60000040, "CS", "G")
	b.numVR(0x60000050, "SS", 1, 1)
	b.numVR(0x60000100, "US", 1)
	b.numVR(0x60000102, "US", 0)
	n := (rows*cols + 7) / 8
	n += n % 2
	tok := v.token("OTHER")
	bits := make([]byte, n)
	copy(bits[min(8, max(0, n-len(tok))):], tok)
	b.plantRaw(0x60003000, "OW", bits, tok, ClassOther)
	b.plantVR(0x60004000, "LT", v.token("DESC")+" overlay note", ClassDesc, 0)
}

// curve writes a retired curve group 5000 element with a token.
func (g *Generator) curve(b *builder) {
	b.numVR(0x50000005, "US", 1)
	b.numVR(0x50000010, "US", 0)
	b.strVR(0x50000020, "CS", "TAC")
	b.plantVR(0x50000022, "LO", g.v.token("DESC"), ClassDesc, 0)
}

// trailingPadding writes DataSetTrailingPadding holding a token.
func (g *Generator) trailingPadding(b *builder) {
	tok := g.v.token("OTHER")
	raw := make([]byte, 32)
	copy(raw[8:], tok)
	b.plantRaw(tagTrailingPad, "OB", raw, tok, ClassOther)
}
