package cpu

import "math"

// fma32 returns a·b + c rounded once to float32, as the vector kernels' fused multiply-add computes it.
// The Go twins use it wherever the assembly fuses, so that every kernel set rounds alike and gives the
// same bits: results then do not depend on the CPU, and a reference trace that one set matches, the
// others match too.
//
// The product of two float32 values is exact in float64, so only the sum rounds there; rounding that
// sum to float32 again differs from one rounding only when the float64 sum falls exactly halfway
// between two float32 values while the exact sum does not. That case is detected and the float64 sum
// moved one step toward the exact one before the conversion.
func fma32(a, b, c float32) float32 {
	p := float64(a) * float64(b)
	s := p + float64(c)
	// In the normal range a float32 tie has the 29 mantissa bits that float32 drops set to 100…0.
	if math.Float64bits(s)&(1<<29-1) != 1<<28 && (s >= 0x1p-126 || s <= -0x1p-126) {
		return float32(s)
	}
	return float32(fixTie(p, float64(c), s))
}

// fixTie returns s = p + c (rounded to float64) nudged one float64 step toward the exact sum when s is
// halfway between two float32 values and inexact, so that converting it to float32 rounds as the exact
// sum would.
func fixTie(p, c, s float64) float64 {
	if math.IsInf(s, 0) || math.IsNaN(s) {
		return s
	}
	r := float32(s)
	lo, hi := math.Nextafter32(r, float32(math.Inf(-1))), math.Nextafter32(r, float32(math.Inf(1)))
	if s != (float64(r)+float64(lo))/2 && s != (float64(r)+float64(hi))/2 {
		return s
	}
	// Knuth's two-sum: err is the exact rounding error of s = p + c.
	pp := s - c
	cc := s - pp
	err := (p - pp) + (c - cc)
	switch {
	case err > 0:
		return math.Nextafter(s, math.Inf(1))
	case err < 0:
		return math.Nextafter(s, math.Inf(-1))
	}
	return s
}
