//go:build !purego

package cpu

import "math"

// neonMathConsts holds the constants of the NEON exp, GELU and QuickGELU (neon_arm64.h), four to a
// vector register, taken from the Go twins' own constants so that both round alike.
var neonMathConsts = [28]float32{
	expLo, expHi, log2e, roundShift,
	ln2Hi, ln2Lo, invFact7, invFact6,
	invFact5, invFact4, invFact3, 0.5,
	1, -1.702, -0.70710678118654752, 2,
	erfcCoeffs[0], erfcCoeffs[1], erfcCoeffs[2], erfcCoeffs[3],
	erfcCoeffs[4], erfcCoeffs[5], erfcCoeffs[6], erfcCoeffs[7],
	erfcCoeffs[8], erfcCoeffs[9],
}

// The assembly kernels take whole vectors: n a multiple of 4, or of 16 where they fill the sixteen-lane
// accumulators of the Go twins' reductions. The wrappers below hand them the longest such prefix and
// finish the rest as the twins do, so each result has the twins' bits.

//go:noescape
func geluBlocksNEON(dst, x *float32, n int)

//go:noescape
func quickGeluBlocksNEON(dst, x *float32, n int)

//go:noescape
func expSubBlocksNEON(dst, x *float32, n int, m float32, acc *[32]float32)

//go:noescape
func dotBlocksNEON(x, y *float32, n int, acc *[64]float32)

//go:noescape
func sumBlocksNEON(x *float32, n int, acc *[64]float32)

//go:noescape
func laneSumBlocksNEON(x *float32, n int, m float32, acc *[64]float32)

//go:noescape
func laneSqBlocksNEON(x *float32, n int, m float32, acc *[64]float32)

//go:noescape
func layerNormApplyNEON(dst, x, w, b *float32, n int, mean, inv float32)

//go:noescape
func axpyBlocksNEON(alpha float32, x, y *float32, n int)

//go:noescape
func scaleBlocksNEON(alpha float32, x *float32, n int)

//go:noescape
func maxBlocksNEON(x *float32, n int, lanes *[4]float32)

func geluNEON(dst, x []float32) {
	dst = dst[:len(x)]
	n := len(x) &^ 3
	if n > 0 {
		geluBlocksNEON(&dst[0], &x[0], n)
	}
	geluGo(dst[n:], x[n:])
}

func quickGeluNEON(dst, x []float32) {
	dst = dst[:len(x)]
	n := len(x) &^ 3
	if n > 0 {
		quickGeluBlocksNEON(&dst[0], &x[0], n)
	}
	quickGeluGo(dst[n:], x[n:])
}

func expSubNEON(dst, x []float32, m float32) float32 {
	dst = dst[:len(x)]
	var acc [32]float32
	n := len(x) &^ 15
	if n > 0 {
		expSubBlocksNEON(&dst[0], &x[0], n, m, &acc)
	}
	for i := n; i < len(x); i++ {
		e := expf(x[i] - m)
		dst[i] = e
		acc[16+i&15] += e
	}
	var z [16]float32
	for l := range z {
		z[l] = acc[l] + acc[16+l]
	}
	return foldHalves(&z)
}

func dotNEON(x, y []float32) float32 {
	y = y[:len(x)]
	var acc [64]float32
	n := len(x) &^ 15
	if n > 0 {
		dotBlocksNEON(&x[0], &y[0], n, &acc)
	}
	for i := n; i < len(x); i++ {
		acc[16+i&15] = fma32(x[i], y[i], acc[16+i&15])
	}
	return foldLanes(&acc)
}

func sumNEON(x []float32) float32 {
	var acc [64]float32
	n := len(x) &^ 15
	if n > 0 {
		sumBlocksNEON(&x[0], n, &acc)
	}
	for i := n; i < len(x); i++ {
		acc[16+i&15] += x[i]
	}
	return foldLanes(&acc)
}

func axpyNEON(alpha float32, x, y []float32) {
	y = y[:len(x)]
	n := len(x) &^ 3
	if n > 0 {
		axpyBlocksNEON(alpha, &x[0], &y[0], n)
	}
	axpyGo(alpha, x[n:], y[n:])
}

func scaleNEON(alpha float32, x []float32) {
	n := len(x) &^ 3
	if n > 0 {
		scaleBlocksNEON(alpha, &x[0], n)
	}
	scaleGo(alpha, x[n:])
}

// maxValNEON is maxValGo with the lanes in any order: the largest value has one bit pattern, except
// for a largest value of zero, whose sign is then that of the first zero in x, as in maxValGo.
func maxValNEON(x []float32) float32 {
	n := len(x) &^ 3
	m := maxValGo(x[n:])
	if n > 0 {
		var lanes [4]float32
		maxBlocksNEON(&x[0], n, &lanes)
		m = max(m, maxValGo(lanes[:]))
	}
	if m == 0 {
		for _, v := range x {
			if v == 0 {
				return v
			}
		}
	}
	return m
}

// layerNormNEON is layerNormGo with both w and b.
func layerNormNEON(dst, x, w, b []float32, eps float32) {
	n := float32(len(x))
	mean := x[0] + laneSumNEON(x, x[0], false)/n
	variance := laneSumNEON(x, mean, true) / n
	inv := 1 / float32(math.Sqrt(float64(variance+eps)))
	k := len(x) &^ 3
	if k > 0 {
		layerNormApplyNEON(&dst[0], &x[0], &w[0], &b[0], k, mean, inv)
	}
	for i := k; i < len(x); i++ {
		dst[i] = fma32(float32((x[i]-mean)*inv), w[i], b[i])
	}
}

// laneSumNEON is laneSum, the blocks of 16 in vector code.
func laneSumNEON(x []float32, m float32, sq bool) float32 {
	var acc [64]float32
	n := len(x) &^ 15
	if n > 0 {
		if sq {
			laneSqBlocksNEON(&x[0], n, m, &acc)
		} else {
			laneSumBlocksNEON(&x[0], n, m, &acc)
		}
	}
	for i := n; i < len(x); i++ {
		if sq {
			d := m - x[i]
			acc[16+i&15] = fma32(d, d, acc[16+i&15])
		} else {
			acc[16+i&15] += x[i] - m
		}
	}
	return foldLanes(&acc)
}
