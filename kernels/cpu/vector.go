package cpu

import (
	"fmt"
	"math"
)

// Dot returns Σ x[i]·y[i]. x and y must have the same length.
func Dot(x, y []float32) float32 {
	checkSameLen("Dot", len(x), len(y))
	return dot(x, y)
}

// Axpy sets y[i] += alpha·x[i]. x and y must have the same length.
func Axpy(alpha float32, x, y []float32) {
	checkSameLen("Axpy", len(x), len(y))
	axpy(alpha, x, y)
}

// Scale sets x[i] *= alpha.
func Scale(alpha float32, x []float32) { scale(alpha, x) }

// Sum returns Σ x[i].
func Sum(x []float32) float32 { return sum(x) }

// MaxVal returns the largest element of x, ignoring NaNs; it returns -Inf
// when x is empty or holds only NaNs.
func MaxVal(x []float32) float32 { return maxVal(x) }

// ExpSub sets dst[i] = exp(x[i] - m) and returns Σ dst[i], the two halves
// of a softmax once m is the row maximum. Each exp is within 2 ulp of the
// exact value; x[i] - m = -Inf gives 0, a result past float32 range +Inf.
// dst and x must have the same length and may be the same slice.
func ExpSub(dst, x []float32, m float32) float32 {
	checkSameLen("ExpSub", len(dst), len(x))
	return expSub(dst, x, m)
}

// Gelu sets dst[i] = x[i]·Φ(x[i]), the exact (erf) GELU, Φ being the
// standard normal CDF. The relative error is below 2e-6 + 2e-7·x[i]²: the
// rounding of x² shows only in the far negative tail, where the result is
// under 1e-8 in size. dst and x must have the same length and may be the
// same slice.
func Gelu(dst, x []float32) {
	checkSameLen("Gelu", len(dst), len(x))
	gelu(dst, x)
}

// QuickGelu sets dst[i] = x[i]·σ(1.702·x[i]), the GELU approximation of
// OpenAI CLIP. dst and x must have the same length and may be the same
// slice.
func QuickGelu(dst, x []float32) {
	checkSameLen("QuickGelu", len(dst), len(x))
	quickGelu(dst, x)
}

func checkSameLen(fn string, a, b int) {
	if a != b {
		panic(fmt.Sprintf("cpu: %s: slice lengths %d and %d differ", fn, a, b))
	}
}

// The Go twins of the reductions accumulate as the vector kernels do (see foldLanes), with a fused
// multiply-add where they fuse, so that every kernel set returns the same bits.

func dotGo(x, y []float32) float32 {
	y = y[:len(x)]
	var acc [64]float32
	b64, b16 := len(x)&^63, len(x)&^15
	for i := 0; i < b64; i++ {
		acc[i&63] = fma32(x[i], y[i], acc[i&63])
	}
	for i := b64; i < b16; i++ {
		acc[i&15] = fma32(x[i], y[i], acc[i&15])
	}
	for i := b16; i < len(x); i++ {
		acc[16+i&15] = fma32(x[i], y[i], acc[16+i&15])
	}
	return foldLanes(&acc)
}

func axpyGo(alpha float32, x, y []float32) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] = fma32(alpha, v, y[i])
	}
}

func scaleGo(alpha float32, x []float32) {
	for i := range x {
		x[i] *= alpha
	}
}

func sumGo(x []float32) float32 {
	var acc [64]float32
	b64, b16 := len(x)&^63, len(x)&^15
	for i := 0; i < b64; i++ {
		acc[i&63] += x[i]
	}
	for i := b64; i < b16; i++ {
		acc[i&15] += x[i]
	}
	for i := b16; i < len(x); i++ {
		acc[16+i&15] += x[i]
	}
	return foldLanes(&acc)
}

// foldLanes returns the sum of the vector kernels' accumulators: sixteen lanes in four accumulators
// (lane l of accumulator a at 16a+l), filled over blocks of 64 values, then blocks of 16 into the first
// and the tail into the second. The accumulators are added pairwise and the lanes folded in halves.
func foldLanes(acc *[64]float32) float32 {
	var z [16]float32
	for l := range z {
		z[l] = (acc[l] + acc[16+l]) + (acc[32+l] + acc[48+l])
	}
	return foldHalves(&z)
}

// foldHalves sums sixteen lanes as the vector kernels do: lane l gains lane l+w for w = 8, 4, 2, 1.
func foldHalves(z *[16]float32) float32 {
	for w := 8; w >= 1; w /= 2 {
		for l := range w {
			z[l] += z[l+w]
		}
	}
	return z[0]
}

func maxValGo(x []float32) float32 {
	m := float32(math.Inf(-1))
	for _, v := range x {
		if v > m {
			m = v
		}
	}
	return m
}

func expSubGo(dst, x []float32, m float32) float32 {
	dst = dst[:len(x)]
	// Two accumulators of sixteen lanes, as the vector code keeps: blocks of 32 fill both, a block of 16
	// the first, the tail the second.
	var acc [32]float32
	b32, b16 := len(x)&^31, len(x)&^15
	for i, v := range x {
		e := expf(v - m)
		dst[i] = e
		switch {
		case i < b32:
			acc[i&31] += e
		case i < b16:
			acc[i&15] += e
		default:
			acc[16+i&15] += e
		}
	}
	var z [16]float32
	for l := range z {
		z[l] = acc[l] + acc[16+l]
	}
	return foldHalves(&z)
}

// Constants of expf: exp(t) = 2ⁿ·exp(r) with n = round(t/ln2) and
// r = t - n·ln2 in [-ln2/2, ln2/2], where a degree-7 Taylor polynomial is
// within 6e-9 of exp(r). ln2 is split so that n·ln2Hi is exact.
const (
	expLo    = -104 // exp(expLo) rounds to 0
	expHi    = 89   // exp(expHi) overflows
	log2e    = 1.44269504088896341
	ln2Hi    = 0.693359375
	ln2Lo    = -2.12194440e-4
	invFact7 = 1.0 / 5040
	invFact6 = 1.0 / 720
	invFact5 = 1.0 / 120
	invFact4 = 1.0 / 24
	invFact3 = 1.0 / 6

	roundShift     = 0x1.8p23
	roundShiftBits = 0x4b400000
)

// expf is the scalar twin of the vector exp in ExpSub.
func expf(t float32) float32 {
	// Written so NaN fails both tests and passes through.
	if t < expLo {
		t = expLo
	}
	if t > expHi {
		t = expHi
	}
	// Adding 1.5·2²³ rounds to an integer, to nearest even, which the low
	// bits of z then hold.
	// The conversion rounds the product, as the vector code does, where a compiler that fuses (arm64,
	// GOAMD64=v3) would otherwise fuse it into the sum.
	z := float32(t*log2e) + roundShift
	n := z - roundShift
	r := t - n*ln2Hi // exact: ln2Hi has few bits
	r = fma32(-n, ln2Lo, r)
	p := float32(invFact7)
	p = fma32(p, r, invFact6)
	p = fma32(p, r, invFact5)
	p = fma32(p, r, invFact4)
	p = fma32(p, r, invFact3)
	p = fma32(p, r, 0.5)
	p = fma32(p, r, 1)
	p = fma32(p, r, 1)
	if n != n {
		return n
	}
	return scalef(p, int(int32(math.Float32bits(z))-roundShiftBits))
}

// scalef returns p·2ⁿ with one rounding, for 1/2 <= p < 2 and
// -150 <= n <= 128.
func scalef(p float32, n int) float32 {
	switch {
	case n < -126:
		// Stay normal until the last step so only it rounds.
		return p * pow2(n+64) * pow2(-64)
	case n > 127:
		return p * pow2(127) * pow2(n-127)
	}
	return p * pow2(n)
}

// pow2 returns 2ⁿ for -126 <= n <= 127.
func pow2(n int) float32 { return math.Float32frombits(uint32(n+127) << 23) }

func quickGeluGo(dst, x []float32) {
	dst = dst[:len(x)]
	for i, v := range x {
		dst[i] = v / (1 + expf(-1.702*v))
	}
}

// Coefficients of erfc(z) ≈ t·exp(-z² + P(t)), t = 1/(1 + z/2), z >= 0,
// from Numerical Recipes' erfcc: relative error below 1.2e-7 for all z.
var erfcCoeffs = [10]float32{
	-1.26551223, 1.00002368, 0.37409196, 0.09678418, -0.18628806,
	0.27886807, -1.13520398, 1.48851587, -0.82215223, 0.17087277,
}

func geluGo(dst, x []float32) {
	dst = dst[:len(x)]
	for i, v := range x {
		// Φ(v) = erfc(u)/2 with u = -v/√2; erfc is evaluated at |u|,
		// which keeps full relative accuracy in the far negative tail.
		u := v * -0.70710678118654752
		z := u
		if z < 0 {
			z = -z
		}
		t := 1 / (1 + 0.5*z)
		p := erfcCoeffs[9]
		for j := 8; j >= 0; j-- {
			p = fma32(p, t, erfcCoeffs[j])
		}
		r := float32(t * expf(fma32(-z, z, p))) // rounded, unfused with the step below
		if u < 0 {
			r = 2 - r
		}
		dst[i] = 0.5 * v * r
	}
}
