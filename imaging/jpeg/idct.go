package jpeg

// The inverse DCT is libjpeg's "ISLOW" integer transform (jidctint.c,
// CONST_BITS 13, PASS1_BITS 2), which Pillow gets by default; its rounding
// decides the exact output pixels, so the arithmetic follows it step by step.

const (
	constBits = 13
	pass1Bits = 2

	fix0_298631336 = 2446
	fix0_390180644 = 3196
	fix0_541196100 = 4433
	fix0_765366865 = 6270
	fix0_899976223 = 7373
	fix1_175875602 = 9633
	fix1_501321110 = 12299
	fix1_847759065 = 15137
	fix1_961570560 = 16069
	fix2_053119869 = 16819
	fix2_562915447 = 20995
	fix3_072711026 = 25172
)

// rangeLimit maps a centred IDCT output v, masked to 10 bits, to the sample
// clamp(v+128, 0, 255). libjpeg's C table wraps for |v| >= 512 instead, but
// Pillow on x86-64 runs libjpeg-turbo's SIMD IDCT, which saturates; only
// corrupt data gets there. v outside -512..511 must be clamped first.
var rangeLimit = func() (t [1024]uint8) {
	for i := range t {
		v := i
		if i >= 512 {
			v = i - 1024
		}
		t[i] = uint8(min(max(v+128, 0), 255))
	}
	return t
}()

// descale shifts x right by n with rounding and clamps it to -512..511,
// the input range of rangeLimit.
func descale(x int64, n uint) int32 {
	v := (x + 1<<(n-1)) >> n
	return int32(min(max(v, -512), 511))
}

// idctDC writes the block whose only non-zero coefficient is the
// dequantized DC value dc; the full transform gives the same constant.
func idctDC(dc int32, dst []uint8, stride int) {
	v := rangeLimit[descale(int64(dc)<<pass1Bits, pass1Bits+3)&1023]
	for y := 0; y < 8; y++ {
		row := dst[y*stride : y*stride+8]
		row[0], row[1], row[2], row[3] = v, v, v, v
		row[4], row[5], row[6], row[7] = v, v, v, v
	}
}

// idct transforms the dequantized coefficients in natural order and writes
// the 8×8 samples to dst with the given row stride.
func idct(in *[64]int32, dst []uint8, stride int) {
	var ws [64]int32
	_ = dst[7*stride+7]

	// Pass 1: columns, results scaled up by 2**PASS1_BITS.
	for c := 0; c < 8; c++ {
		if in[8+c]|in[16+c]|in[24+c]|in[32+c]|in[40+c]|in[48+c]|in[56+c] == 0 {
			dc := in[c] << pass1Bits
			ws[c], ws[8+c], ws[16+c], ws[24+c] = dc, dc, dc, dc
			ws[32+c], ws[40+c], ws[48+c], ws[56+c] = dc, dc, dc, dc
			continue
		}
		z2 := int64(in[16+c])
		z3 := int64(in[48+c])
		z1 := (z2 + z3) * fix0_541196100
		tmp2 := z1 - z3*fix1_847759065
		tmp3 := z1 + z2*fix0_765366865

		z2 = int64(in[c])
		z3 = int64(in[32+c])
		tmp0 := (z2 + z3) << constBits
		tmp1 := (z2 - z3) << constBits

		tmp10 := tmp0 + tmp3
		tmp13 := tmp0 - tmp3
		tmp11 := tmp1 + tmp2
		tmp12 := tmp1 - tmp2

		tmp0 = int64(in[56+c])
		tmp1 = int64(in[40+c])
		tmp2 = int64(in[24+c])
		tmp3 = int64(in[8+c])

		z1 = tmp0 + tmp3
		z2 = tmp1 + tmp2
		z3 = tmp0 + tmp2
		z4 := tmp1 + tmp3
		z5 := (z3 + z4) * fix1_175875602

		tmp0 *= fix0_298631336
		tmp1 *= fix2_053119869
		tmp2 *= fix3_072711026
		tmp3 *= fix1_501321110
		z1 *= -fix0_899976223
		z2 *= -fix2_562915447
		z3 *= -fix1_961570560
		z4 *= -fix0_390180644

		z3 += z5
		z4 += z5

		tmp0 += z1 + z3
		tmp1 += z2 + z4
		tmp2 += z2 + z3
		tmp3 += z1 + z4

		const sh = constBits - pass1Bits
		const rnd = 1 << (sh - 1)
		ws[c] = int32((tmp10 + tmp3 + rnd) >> sh)
		ws[56+c] = int32((tmp10 - tmp3 + rnd) >> sh)
		ws[8+c] = int32((tmp11 + tmp2 + rnd) >> sh)
		ws[48+c] = int32((tmp11 - tmp2 + rnd) >> sh)
		ws[16+c] = int32((tmp12 + tmp1 + rnd) >> sh)
		ws[40+c] = int32((tmp12 - tmp1 + rnd) >> sh)
		ws[24+c] = int32((tmp13 + tmp0 + rnd) >> sh)
		ws[32+c] = int32((tmp13 - tmp0 + rnd) >> sh)
	}

	// Pass 2: rows, descaled by 8 and 2**PASS1_BITS.
	for r := 0; r < 8; r++ {
		w := (*[8]int32)(ws[r*8 : r*8+8])
		out := (*[8]uint8)(dst[r*stride : r*stride+8])
		if w[1]|w[2]|w[3]|w[4]|w[5]|w[6]|w[7] == 0 {
			v := rangeLimit[descale(int64(w[0]), pass1Bits+3)&1023]
			out[0], out[1], out[2], out[3] = v, v, v, v
			out[4], out[5], out[6], out[7] = v, v, v, v
			continue
		}
		if w[4]|w[5]|w[6]|w[7] == 0 {
			idctRowLow(w, out)
			continue
		}
		z2 := int64(w[2])
		z3 := int64(w[6])
		z1 := (z2 + z3) * fix0_541196100
		tmp2 := z1 - z3*fix1_847759065
		tmp3 := z1 + z2*fix0_765366865

		tmp0 := (int64(w[0]) + int64(w[4])) << constBits
		tmp1 := (int64(w[0]) - int64(w[4])) << constBits

		tmp10 := tmp0 + tmp3
		tmp13 := tmp0 - tmp3
		tmp11 := tmp1 + tmp2
		tmp12 := tmp1 - tmp2

		tmp0 = int64(w[7])
		tmp1 = int64(w[5])
		tmp2 = int64(w[3])
		tmp3 = int64(w[1])

		z1 = tmp0 + tmp3
		z2 = tmp1 + tmp2
		z3 = tmp0 + tmp2
		z4 := tmp1 + tmp3
		z5 := (z3 + z4) * fix1_175875602

		tmp0 *= fix0_298631336
		tmp1 *= fix2_053119869
		tmp2 *= fix3_072711026
		tmp3 *= fix1_501321110
		z1 *= -fix0_899976223
		z2 *= -fix2_562915447
		z3 *= -fix1_961570560
		z4 *= -fix0_390180644

		z3 += z5
		z4 += z5

		tmp0 += z1 + z3
		tmp1 += z2 + z4
		tmp2 += z2 + z3
		tmp3 += z1 + z4

		const sh = constBits + pass1Bits + 3
		out[0] = rangeLimit[descale(tmp10+tmp3, sh)&1023]
		out[7] = rangeLimit[descale(tmp10-tmp3, sh)&1023]
		out[1] = rangeLimit[descale(tmp11+tmp2, sh)&1023]
		out[6] = rangeLimit[descale(tmp11-tmp2, sh)&1023]
		out[2] = rangeLimit[descale(tmp12+tmp1, sh)&1023]
		out[5] = rangeLimit[descale(tmp12-tmp1, sh)&1023]
		out[3] = rangeLimit[descale(tmp13+tmp0, sh)&1023]
		out[4] = rangeLimit[descale(tmp13-tmp0, sh)&1023]
	}
}

// idctRowLow is pass 2 for a row whose entries 4..7 are zero: the same
// arithmetic as the full row with the zero products left out, so the
// result is identical.
func idctRowLow(w *[8]int32, out *[8]uint8) {
	z2 := int64(w[2])
	z1 := z2 * fix0_541196100
	tmp2 := z1
	tmp3 := z1 + z2*fix0_765366865

	tmp0 := int64(w[0]) << constBits
	tmp10 := tmp0 + tmp3
	tmp13 := tmp0 - tmp3
	tmp11 := tmp0 + tmp2
	tmp12 := tmp0 - tmp2

	w3, w1 := int64(w[3]), int64(w[1])
	z5 := (w3 + w1) * fix1_175875602
	z1 = w1 * -fix0_899976223
	z2 = w3 * -fix2_562915447
	z3 := w3*-fix1_961570560 + z5
	z4 := w1*-fix0_390180644 + z5

	o0 := z1 + z3
	o1 := z2 + z4
	o2 := w3*fix3_072711026 + z2 + z3
	o3 := w1*fix1_501321110 + z1 + z4

	const sh = constBits + pass1Bits + 3
	out[0] = rangeLimit[descale(tmp10+o3, sh)&1023]
	out[7] = rangeLimit[descale(tmp10-o3, sh)&1023]
	out[1] = rangeLimit[descale(tmp11+o2, sh)&1023]
	out[6] = rangeLimit[descale(tmp11-o2, sh)&1023]
	out[2] = rangeLimit[descale(tmp12+o1, sh)&1023]
	out[5] = rangeLimit[descale(tmp12-o1, sh)&1023]
	out[3] = rangeLimit[descale(tmp13+o0, sh)&1023]
	out[4] = rangeLimit[descale(tmp13-o0, sh)&1023]
}
