package dicomtest

import "encoding/binary"

// rleFrame encodes one frame of native pixel bytes (little endian samples,
// bytesPerSample 1 or 2, one sample per pixel) as a DICOM RLE Lossless frame
// (PS3.5 Annex G): a 64-byte header, then one PackBits segment per byte of
// the sample, most significant first, each row encoded on its own.
func rleFrame(pixels []byte, rows, cols, bytesPerSample int) []byte {
	segs := make([][]byte, bytesPerSample)
	plane := make([]byte, cols)
	for s := range bytesPerSample {
		bi := bytesPerSample - 1 - s // byte index within an LE sample
		var seg []byte
		for r := range rows {
			for c := range cols {
				plane[c] = pixels[(r*cols+c)*bytesPerSample+bi]
			}
			seg = packBits(seg, plane)
		}
		if len(seg)%2 == 1 {
			seg = append(seg, 0)
		}
		segs[s] = seg
	}
	out := make([]byte, 64)
	binary.LittleEndian.PutUint32(out, uint32(len(segs)))
	off := 64
	for i, s := range segs {
		binary.LittleEndian.PutUint32(out[4+4*i:], uint32(off))
		off += len(s)
	}
	for _, s := range segs {
		out = append(out, s...)
	}
	return out
}

// packBits appends the PackBits encoding of src to dst.
func packBits(dst, src []byte) []byte {
	i := 0
	for i < len(src) {
		run := 1
		for i+run < len(src) && run < 128 && src[i+run] == src[i] {
			run++
		}
		if run >= 2 {
			dst = append(dst, byte(257-run), src[i])
			i += run
			continue
		}
		start := i
		for i < len(src) && i-start < 128 {
			if i+1 < len(src) && src[i+1] == src[i] {
				break
			}
			i++
		}
		if i == start { // lone byte before a run of length ≥2 handled above
			i++
		}
		dst = append(dst, byte(i-start-1))
		dst = append(dst, src[start:i]...)
	}
	return dst
}

// unpackBits decodes PackBits data (used by tests).
func unpackBits(src []byte) []byte {
	var out []byte
	for i := 0; i < len(src); {
		n := int(int8(src[i]))
		i++
		switch {
		case n >= 0 && i+n+1 > len(src): // trailing pad byte
			return out
		case n >= 0:
			out = append(out, src[i:i+n+1]...)
			i += n + 1
		case n != -128 && i < len(src):
			for range 1 - n {
				out = append(out, src[i])
			}
			i++
		}
	}
	return out
}
