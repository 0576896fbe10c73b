package dicomtest

import "encoding/binary"

// phantom16 returns rows×cols little-endian 16-bit samples (12 bits used) of
// a CT-like phantom: a body ellipse, an insert whose size depends on slice,
// and cheap noise. It is fast enough for thousands of 512×512 slices.
func phantom16(rows, cols, slice int, seed uint64) []byte {
	out := make([]byte, 2*rows*cols)
	cy, cx := rows/2, cols/2
	ry, rx := rows*9/20, cols*9/20
	ir := 1 + (cols/8)*(1+slice%5)/5
	x := seed*0x9E3779B97F4A7C15 + uint64(slice)*0xBF58476D1CE4E5B9 | 1
	for r := range rows {
		dy := r - cy
		for c := range cols {
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
			dx := c - cx
			v := uint16(x & 0x1F) // air with noise
			if dx*dx*ry*ry+dy*dy*rx*rx <= rx*rx*ry*ry {
				v = 1024 + 40 + uint16(x&0x3F)
				if dx*dx+dy*dy <= ir*ir {
					v = 1024 + 700 + uint16(x&0x3F)
				}
			}
			binary.LittleEndian.PutUint16(out[2*(r*cols+c):], v)
		}
	}
	return out
}

// phantom8 returns rows×cols 8-bit samples: a gradient with a bright box.
func phantom8(rows, cols, seed int) []byte {
	out := make([]byte, rows*cols)
	for r := range rows {
		for c := range cols {
			v := byte((r*255/rows + c*64/cols + seed) & 0xFF)
			if r > rows/4 && r < rows/2 && c > cols/4 && c < cols/2 {
				v = 250
			}
			out[r*cols+c] = v
		}
	}
	return out
}

// pixelData returns the PixelData element for native little-endian samples
// in transfer syntax ts: byte-swapped OW for explicit big endian, RLE
// fragments with a Basic Offset Table for RLE Lossless, opaque JPEG-like
// fragments for JPEG baseline.
func pixelData(pixels []byte, rows, cols, bytesPerSample int, ts string) element {
	vr := "OW"
	if bytesPerSample == 1 {
		vr = "OB"
	}
	switch ts {
	case RLELossless:
		return element{tag: tagPixelData, vr: "OB", frags: [][]byte{
			{0, 0, 0, 0}, // Basic Offset Table: one frame at offset 0
			rleFrame(pixels, rows, cols, bytesPerSample),
		}}
	case JPEGBaseline8Bit:
		return element{tag: tagPixelData, vr: "OB", frags: fakeJPEG(pixels)}
	case ExplicitVRBigEndian:
		if bytesPerSample == 2 {
			sw := make([]byte, len(pixels))
			for i := 0; i+1 < len(pixels); i += 2 {
				sw[i], sw[i+1] = pixels[i+1], pixels[i]
			}
			return element{tag: tagPixelData, vr: vr, raw: sw}
		}
	}
	return element{tag: tagPixelData, vr: vr, raw: pixels}
}

// fakeJPEG returns an empty Basic Offset Table and two fragments that start
// with SOI and end with EOI but are not a decodable JPEG.
func fakeJPEG(pixels []byte) [][]byte {
	body := append([]byte{0xFF, 0xD8, 0xFF, 0xE0, 0, 16, 'J', 'F', 'I', 'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0}, pixels[:min(len(pixels), 256)]...)
	half := len(body) / 2
	half += half % 2
	f1 := append([]byte(nil), body[:half]...)
	f2 := append([]byte(nil), body[half:]...)
	if len(f2)%2 == 1 {
		f2 = append(f2, 0)
	}
	return [][]byte{{}, f1, append(f2, 0xFF, 0xD9)}
}
