package jpeg

// Colour conversion follows jdcolor.c: 16-bit fixed point with tables built
// from FIX(1.40200), FIX(1.77200), FIX(0.71414) and FIX(0.34414).
const (
	scaleBits = 16
	oneHalf   = 1 << (scaleBits - 1)
)

var crR, cbB, crG, cbG [256]int32

// clampTab[(v+256)&1023] is v clamped to 0..255 for v in -256..767.
var clampTab [1024]uint8

func init() {
	for i := 0; i < 256; i++ {
		x := int32(i - 128)
		crR[i] = (91881*x + oneHalf) >> scaleBits
		cbB[i] = (116130*x + oneHalf) >> scaleBits
		crG[i] = -46802 * x
		cbG[i] = -22554*x + oneHalf
	}
	for i := range clampTab {
		v := i - 256
		if i >= 768 {
			v = i - 1024 // wraps to the negative side
		}
		clampTab[i] = uint8(min(max(v, 0), 255))
	}
}

// upsampleRow returns the samples of component c on output row y at full
// resolution, w of them. It reads c.plane and may write into buf (and use
// sums as scratch); the result aliases one of them.
func (d *Decoder) upsampleRow(c *component, y, w int, buf []uint8, sums []int32) []uint8 {
	stride := c.bw * 8
	fh, fv := d.hmax/c.h, d.vmax/c.v
	cw := c.w
	switch {
	case fh == 1 && fv == 1:
		return c.plane[y*stride : y*stride+w]
	case fh == 2 && fv == 1 && cw > 2:
		in := c.plane[y*stride : y*stride+cw]
		out := buf[:2*cw]
		h2v1Fancy(in, out)
		return out[:w]
	case fh == 1 && fv == 2:
		i := y >> 1
		in0 := c.plane[i*stride : i*stride+cw]
		var in1 []uint8
		bias := int32(1)
		if y&1 == 0 {
			in1 = c.plane[max(i-1, 0)*stride:]
		} else {
			in1 = c.plane[min(i+1, c.h2-1)*stride:]
			bias = 2
		}
		in1 = in1[:cw]
		out := buf[:cw]
		for x := range out {
			out[x] = uint8((3*int32(in0[x]) + int32(in1[x]) + bias) >> 2)
		}
		return out[:w]
	case fh == 2 && fv == 2 && cw > 2:
		i := y >> 1
		in0 := c.plane[i*stride : i*stride+cw]
		var in1 []uint8
		if y&1 == 0 {
			in1 = c.plane[max(i-1, 0)*stride:]
		} else {
			in1 = c.plane[min(i+1, c.h2-1)*stride:]
		}
		in1 = in1[:cw]
		s := sums[:cw]
		for x := range s {
			s[x] = 3*int32(in0[x]) + int32(in1[x])
		}
		out := buf[:2*cw]
		h2v2Fancy(s, out)
		return out[:w]
	default:
		// Box replication (libjpeg's h2v1/h2v2/int upsample).
		row := c.plane[(y/fv)*stride:]
		row = row[:cw]
		out := buf[:w]
		for x := range out {
			out[x] = row[x/fh]
		}
		return out
	}
}

// h2v1Fancy doubles a row with the 3/4, 1/4 triangle filter and libjpeg's
// alternating rounding bias. len(in) > 2, len(out) == 2*len(in).
func h2v1Fancy(in, out []uint8) {
	n := len(in)
	out = out[:2*n]
	out[0] = in[0]
	out[1] = uint8((3*int32(in[0]) + int32(in[1]) + 2) >> 2)
	for j := 1; j < n-1; j++ {
		v := 3 * int32(in[j])
		out[2*j] = uint8((v + int32(in[j-1]) + 1) >> 2)
		out[2*j+1] = uint8((v + int32(in[j+1]) + 2) >> 2)
	}
	out[2*n-2] = uint8((3*int32(in[n-1]) + int32(in[n-2]) + 1) >> 2)
	out[2*n-1] = in[n-1]
}

// h2v2Fancy is the horizontal half of libjpeg's h2v2 fancy upsampling on
// column sums s (3*nearer row + further row). len(s) > 2, len(out) == 2*len(s).
func h2v2Fancy(s []int32, out []uint8) {
	n := len(s)
	out = out[:2*n]
	out[0] = uint8((4*s[0] + 8) >> 4)
	out[1] = uint8((3*s[0] + s[1] + 7) >> 4)
	for j := 1; j < n-1; j++ {
		v := 3 * s[j]
		out[2*j] = uint8((v + s[j-1] + 8) >> 4)
		out[2*j+1] = uint8((v + s[j+1] + 7) >> 4)
	}
	out[2*n-2] = uint8((3*s[n-1] + s[n-2] + 8) >> 4)
	out[2*n-1] = uint8((4*s[n-1] + 7) >> 4)
}

// convert upsamples and colour-converts the planes into img.Pix.
func (d *Decoder) convert(img *Image) {
	w, h := d.width, d.height
	nc := len(d.comps)
	bufW := 0
	for i := range d.comps {
		bufW = max(bufW, d.comps[i].bw*8*(d.hmax/d.comps[i].h)+16)
	}
	bufW = max(bufW, w)
	if cap(d.rowBuf) < 4*bufW {
		d.rowBuf = make([]uint8, 4*bufW)
	}
	if cap(d.sumBuf) < bufW {
		d.sumBuf = make([]int32, bufW)
	}
	var rows [4][]uint8
	transform := d.colorTransform()
	pix := img.Pix
	if nc == 3 && transform && d.fusedH2() {
		d.convertH2(pix)
		return
	}
	for y := 0; y < h; y++ {
		for i := 0; i < nc; i++ {
			rows[i] = d.upsampleRow(&d.comps[i], y, w, d.rowBuf[i*bufW:(i+1)*bufW], d.sumBuf)
		}
		switch nc {
		case 1:
			copy(pix[y*w:(y+1)*w], rows[0])
		case 3:
			out := pix[y*w*3 : (y+1)*w*3]
			if transform {
				yccToRGB(rows[0], rows[1], rows[2], out)
			} else {
				r, g, b := rows[0][:w], rows[1][:w], rows[2][:w]
				for x := 0; x < w; x++ {
					out[3*x], out[3*x+1], out[3*x+2] = r[x], g[x], b[x]
				}
			}
		case 4:
			out := pix[y*w*4 : (y+1)*w*4]
			c0, c1, c2, k := rows[0][:w], rows[1][:w], rows[2][:w], rows[3][:w]
			for x := 0; x < w; x++ {
				o := out[4*x : 4*x+4]
				if transform {
					// YCCK: libjpeg gives 255-R, 255-G, 255-B, K and Pillow
					// inverts all four.
					yy := int32(c0[x])
					cb, cr := c1[x], c2[x]
					o[0] = clampTab[(yy+crR[cr]+256)&1023]
					o[1] = clampTab[(yy+((cbG[cb]+crG[cr])>>scaleBits)+256)&1023]
					o[2] = clampTab[(yy+cbB[cb]+256)&1023]
				} else {
					o[0], o[1], o[2] = 255-c0[x], 255-c1[x], 255-c2[x]
				}
				o[3] = 255 - k[x]
			}
		}
	}
}

// colorTransform reports whether libjpeg would treat the components as
// YCbCr (or YCCK) rather than RGB (or CMYK), following
// default_decompress_parms in jdapimin.c.
func (d *Decoder) colorTransform() bool {
	switch len(d.comps) {
	case 3:
		if d.jfif {
			return true
		}
		if d.adobe {
			return d.adobeXform != 0
		}
		c := d.comps
		if c[0].id == 'R' && c[1].id == 'G' && c[2].id == 'B' {
			return false
		}
		return true
	case 4:
		if d.adobe {
			return d.adobeXform != 0
		}
		return false
	}
	return false
}

// yccToRGB converts one row.
func yccToRGB(yr, cbr, crr, out []uint8) {
	n := len(out) / 3
	yr, cbr, crr = yr[:n], cbr[:n], crr[:n]
	for x, i := 0, 0; x < n && i+2 < len(out); x, i = x+1, i+3 {
		yy := int32(yr[x])
		cb, cr := cbr[x], crr[x]
		out[i] = clampTab[(yy+crR[cr]+256)&1023]
		out[i+1] = clampTab[(yy+((cbG[cb]+crG[cr])>>scaleBits)+256)&1023]
		out[i+2] = clampTab[(yy+cbB[cb]+256)&1023]
	}
}

// ycc2 converts the pixel pair (y0, y1) sharing the chroma values
// (cb0, cr0) and (cb1, cr1) into o[0:6].
func ycc2(o *[6]uint8, y0, y1 int32, cb0, cr0, cb1, cr1 uint8) {
	o[0] = clampTab[(y0+crR[cr0]+256)&1023]
	o[1] = clampTab[(y0+((cbG[cb0]+crG[cr0])>>scaleBits)+256)&1023]
	o[2] = clampTab[(y0+cbB[cb0]+256)&1023]
	o[3] = clampTab[(y1+crR[cr1]+256)&1023]
	o[4] = clampTab[(y1+((cbG[cb1]+crG[cr1])>>scaleBits)+256)&1023]
	o[5] = clampTab[(y1+cbB[cb1]+256)&1023]
}

// yccRowH2 converts one output row whose chroma is horizontally halved,
// upsampling it on the fly: fancy with sums (column sums of 4:2:0, or the
// samples of 4:2:2 scaled by 4 so both share the /16 arithmetic) and
// rounding biases be, bo for even and odd output columns.
// len(cbs) == len(crs) == n > 2, len(yr) >= 2n-1, len(out) == 3*len(yr).
func yccRowH2(yr []uint8, cbs, crs []int32, out []uint8, be, bo int32) {
	n := len(cbs)
	crs = crs[:n]
	w := len(out) / 3
	yr = yr[:w]
	// Interior pairs first; the first and last pair use edge weights.
	for j := yccPairsVec(yr, cbs, crs, out, be, bo); j < n-1; j++ {
		x := 2 * j
		if x+1 >= w || 3*x+6 > len(out) {
			break
		}
		cb3, cr3 := 3*cbs[j], 3*crs[j]
		cb0 := uint8((cb3 + cbs[j-1] + be) >> 4)
		cb1 := uint8((cb3 + cbs[j+1] + bo) >> 4)
		cr0 := uint8((cr3 + crs[j-1] + be) >> 4)
		cr1 := uint8((cr3 + crs[j+1] + bo) >> 4)
		y0, y1 := int32(yr[x]), int32(yr[x+1])
		o := (*[6]uint8)(out[3*x : 3*x+6])
		o[0] = clampTab[(y0+crR[cr0]+256)&1023]
		o[1] = clampTab[(y0+((cbG[cb0]+crG[cr0])>>scaleBits)+256)&1023]
		o[2] = clampTab[(y0+cbB[cb0]+256)&1023]
		o[3] = clampTab[(y1+crR[cr1]+256)&1023]
		o[4] = clampTab[(y1+((cbG[cb1]+crG[cr1])>>scaleBits)+256)&1023]
		o[5] = clampTab[(y1+cbB[cb1]+256)&1023]
	}
	// Edges: pair 0 and pair n-1 (possibly cut to one pixel by odd width).
	var tmp [6]uint8
	for _, j := range [2]int{0, n - 1} {
		x := 2 * j
		var cb0, cb1, cr0, cr1 uint8
		if j == 0 {
			cb0, cr0 = uint8((4*cbs[0]+be)>>4), uint8((4*crs[0]+be)>>4)
			cb1, cr1 = uint8((3*cbs[0]+cbs[1]+bo)>>4), uint8((3*crs[0]+crs[1]+bo)>>4)
		} else {
			cb0, cr0 = uint8((3*cbs[j]+cbs[j-1]+be)>>4), uint8((3*crs[j]+crs[j-1]+be)>>4)
			cb1, cr1 = uint8((4*cbs[j]+bo)>>4), uint8((4*crs[j]+bo)>>4)
		}
		if x >= w {
			continue
		}
		y1 := int32(0)
		if x+1 < w {
			y1 = int32(yr[x+1])
		}
		ycc2(&tmp, int32(yr[x]), y1, cb0, cr0, cb1, cr1)
		copy(out[3*x:], tmp[:])
	}
}

// fusedH2 reports whether the image is YCbCr with full-size luma and both
// chroma components halved horizontally and fancy-upsampled (4:2:0 or
// 4:2:2), the layout convertH2 handles.
func (d *Decoder) fusedH2() bool {
	c := d.comps
	if c[0].h != d.hmax || c[0].v != d.vmax || c[1].h != c[2].h || c[1].v != c[2].v {
		return false
	}
	fh, fv := d.hmax/c[1].h, d.vmax/c[1].v
	return fh == 2 && (fv == 1 || fv == 2) && c[1].w > 2
}

// convertH2 is convert for the fusedH2 layouts.
func (d *Decoder) convertH2(pix []uint8) {
	w, h := d.width, d.height
	yc, cbc, crc := &d.comps[0], &d.comps[1], &d.comps[2]
	ys, cs := yc.bw*8, cbc.bw*8
	n := cbc.w
	if cap(d.sumBuf) < 2*n {
		d.sumBuf = make([]int32, 2*n)
	}
	cbs, crs := d.sumBuf[:n], d.sumBuf[n:2*n]
	v2 := d.vmax/cbc.v == 2
	be, bo := int32(8), int32(7)
	if !v2 {
		be, bo = 4, 8
	}
	for y := 0; y < h; y++ {
		if v2 {
			i := y >> 1
			j := max(i-1, 0)
			if y&1 != 0 {
				j = min(i+1, cbc.h2-1)
			}
			cb0, cb1 := cbc.plane[i*cs:i*cs+n], cbc.plane[j*cs:j*cs+n]
			cr0, cr1 := crc.plane[i*cs:i*cs+n], crc.plane[j*cs:j*cs+n]
			for x := range cbs {
				cbs[x] = 3*int32(cb0[x]) + int32(cb1[x])
				crs[x] = 3*int32(cr0[x]) + int32(cr1[x])
			}
		} else {
			// h2v1's (3a+b+1)>>2 and (3a+b+2)>>2 are (12a+4b+4)>>4 and
			// (12a+4b+8)>>4, the h2v2 arithmetic on 4a, 4b (edges too).
			cb0, cr0 := cbc.plane[y*cs:y*cs+n], crc.plane[y*cs:y*cs+n]
			for x := range cbs {
				cbs[x] = 4 * int32(cb0[x])
				crs[x] = 4 * int32(cr0[x])
			}
		}
		yccRowH2(yc.plane[y*ys:y*ys+w], cbs, crs, pix[y*w*3:(y+1)*w*3], be, bo)
	}
}
