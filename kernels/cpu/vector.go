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

func dotGo(x, y []float32) float32 {
	y = y[:len(x)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(x); i += 4 {
		s0 += x[i] * y[i]
		s1 += x[i+1] * y[i+1]
		s2 += x[i+2] * y[i+2]
		s3 += x[i+3] * y[i+3]
	}
	for ; i < len(x); i++ {
		s0 += x[i] * y[i]
	}
	return (s0 + s1) + (s2 + s3)
}

func axpyGo(alpha float32, x, y []float32) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] += alpha * v
	}
}

func scaleGo(alpha float32, x []float32) {
	for i := range x {
		x[i] *= alpha
	}
}

func sumGo(x []float32) float32 {
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(x); i += 4 {
		s0 += x[i]
		s1 += x[i+1]
		s2 += x[i+2]
		s3 += x[i+3]
	}
	for ; i < len(x); i++ {
		s0 += x[i]
	}
	return (s0 + s1) + (s2 + s3)
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
	// Four partial sums, as the vector code keeps, bound the rounding
	// error of long rows.
	var s [4]float32
	for i, v := range x {
		e := expf(v - m)
		dst[i] = e
		s[i&3] += e
	}
	return (s[0] + s[1]) + (s[2] + s[3])
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
	z := t*log2e + roundShift
	n := z - roundShift
	r := t - n*ln2Hi
	r -= n * ln2Lo
	p := float32(invFact7)
	p = p*r + invFact6
	p = p*r + invFact5
	p = p*r + invFact4
	p = p*r + invFact3
	p = p*r + 0.5
	p = p*r + 1
	p = p*r + 1
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
			p = p*t + erfcCoeffs[j]
		}
		r := t * expf(p-z*z)
		if u < 0 {
			r = 2 - r
		}
		dst[i] = 0.5 * v * r
	}
}
