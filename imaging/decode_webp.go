package imaging

import "image"

// Lossy WebP holds limited-range (BT.601 "studio swing") YUV 4:2:0. Pillow
// gets RGB from libwebp, which upsamples chroma with its "fancy" 9-3-3-1
// filter on row pairs and converts with 14-bit fixed-point constants;
// x/image/webp only returns the planes, so the conversion is done here the
// way libwebp's upsampling.c and yuv.h do it.

func webpMultHi(v, c int) int { return (v * c) >> 8 }

func webpClip8(v int) uint8 {
	if v&^(256<<6-1) == 0 {
		return uint8(v >> 6)
	}
	if v < 0 {
		return 0
	}
	return 255
}

func webpPixel(o []uint8, y, u, v int) {
	yy := webpMultHi(y, 19077)
	o[0] = webpClip8(yy + webpMultHi(v, 26149) - 14234)
	o[1] = webpClip8(yy - webpMultHi(u, 6419) - webpMultHi(v, 13320) + 8708)
	o[2] = webpClip8(yy + webpMultHi(u, 33050) - 17685)
}

// webpToRGB converts the 4:2:0 planes of a lossy WebP.
func webpToRGB(m *image.YCbCr) *RGB {
	b := m.Rect
	w, h := b.Dx(), b.Dy()
	out := NewRGB(w, h)
	cw := (w + 1) / 2
	ch := (h + 1) / 2
	crow := func(plane []uint8, r int) []uint8 {
		return plane[r*m.CStride : r*m.CStride+cw]
	}
	up := make([]uint8, 2*w) // upsampled U, V of one row
	for y := 0; y < h; y++ {
		// Output row y is the top or bottom row of the pair libwebp
		// interpolates between chroma rows a (above) and c (below).
		var a, c int
		top := y&1 == 1 || y == 0
		if y == 0 {
			a, c = 0, 0
		} else if top {
			k := (y + 1) / 2
			a, c = k-1, min(k, ch-1)
		} else {
			a, c = y/2-1, y/2
		}
		for p, plane := range [2][]uint8{m.Cb, m.Cr} {
			ta, tc := crow(plane, a), crow(plane, c)
			row := up[p*w : (p+1)*w]
			webpUpsampleRow(ta, tc, top, row)
		}
		yrow := m.Y[y*m.YStride : y*m.YStride+w]
		o := out.Pix[y*w*3 : (y+1)*w*3]
		for x := 0; x < w; x++ {
			webpPixel(o[3*x:3*x+3], int(yrow[x]), int(up[x]), int(up[w+x]))
		}
	}
	return out
}

// webpUpsampleRow is one component of libwebp's UpsampleRgbLinePair for
// the top (nearer row tr) or bottom (nearer row cr) output row.
func webpUpsampleRow(tr, cr []uint8, top bool, out []uint8) {
	n := len(out)
	near, far := tr, cr
	if !top {
		near, far = cr, tr
	}
	out[0] = uint8((3*int(near[0]) + int(far[0]) + 2) >> 2)
	last := (n - 1) >> 1
	for x := 1; x <= last; x++ {
		tl, t, l, uv := int(tr[x-1]), int(tr[x]), int(cr[x-1]), int(cr[x])
		avg := tl + t + l + uv + 8
		d12 := (avg + 2*(t+l)) >> 3
		d03 := (avg + 2*(tl+uv)) >> 3
		if top {
			out[2*x-1] = uint8((d12 + tl) >> 1)
			out[2*x] = uint8((d03 + t) >> 1)
		} else {
			out[2*x-1] = uint8((d03 + l) >> 1)
			out[2*x] = uint8((d12 + uv) >> 1)
		}
	}
	if n&1 == 0 {
		j := len(tr) - 1
		if !top {
			out[n-1] = uint8((3*int(cr[j]) + int(tr[j]) + 2) >> 2)
		} else {
			out[n-1] = uint8((3*int(tr[j]) + int(cr[j]) + 2) >> 2)
		}
	}
}
