package eval

import "math"

// torchSoftmax writes torch.softmax of a float32 row as PyTorch's CPU kernel computes it with AVX2
// vectors (8 lanes): e = exp(x − max) with SLEEF's expf_u10, their sum reduced lane-wise and then as a
// tree, and p = e · (1/sum), all in float32. Scores such as GEN take (1 − p) of probabilities close to 1,
// where a one-ulp difference in p is a relative difference of 1e-3, so they need this exact form.
func torchSoftmax(dst, row []float32) {
	m := maxOf(row)
	var lanes [8]float32
	for j, v := range row {
		e := sleefExpf(v - m)
		dst[j] = e
		lanes[j%8] += e
	}
	// Vectorized reduce_all: lanes i and i+4, then i and i+2, then 0 and 1.
	for w := 4; w >= 1; w /= 2 {
		for i := 0; i < w; i++ {
			lanes[i] += lanes[i+w]
		}
	}
	inv := 1 / lanes[0]
	for j := range dst[:len(row)] {
		dst[j] *= inv
	}
}

// sleefExpf is SLEEF's single-precision expf_u10 (the vector exp of PyTorch's CPU kernels): a
// Cody-Waite reduction by ln 2 and a degree-6 polynomial, with fused multiply-adds as AVX2 has them.
func sleefExpf(d float32) float32 {
	const (
		rLn2 = float32(1.442695040888963407359924681001892137426645954152985934135449406931)
		l2u  = float32(0.693145751953125)
		l2l  = float32(1.428606765330187045e-06)
	)
	q := int32(math.RoundToEven(float64(d * rLn2)))
	qf := float32(q)
	s := fma32(qf, -l2u, d)
	s = fma32(qf, -l2l, s)
	u := float32(0.000198527617612853646278381)
	u = fma32(u, s, 0.00139304355252534151077271)
	u = fma32(u, s, 0.00833336077630519866943359)
	u = fma32(u, s, 0.0416664853692054748535156)
	u = fma32(u, s, 0.166666671633720397949219)
	u = fma32(u, s, 0.5)
	u = 1 + fma32(s*s, u, s)
	// ldexp in two halves, as SLEEF's vldexp2 does, so that 2^q never overflows on its own.
	h := q >> 1
	u = u * pow2f(h) * pow2f(q-h)
	switch {
	case d < -104:
		return 0
	case d > 100:
		return float32(math.Inf(1))
	}
	return u
}

// fma32 is a float32 fused multiply-add: x·y + z rounded once (through float64, whose 53 bits hold the
// exact product of two float32 values).
func fma32(x, y, z float32) float32 {
	return float32(math.FMA(float64(x), float64(y), float64(z)))
}

// pow2f is 2^e as a float32 for e in the exponent range of ldexp2's halves.
func pow2f(e int32) float32 {
	return float32(math.Ldexp(1, int(e)))
}
