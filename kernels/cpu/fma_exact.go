//go:build !arm64

package cpu

import "math"

// fma32 returns a·b + c rounded once to float32, as the vector kernels' fused multiply-add computes it.
// The Go twins use it wherever the assembly fuses, so that every kernel set rounds alike and gives the
// same bits: results then do not depend on the CPU, and a reference trace that one set matches, the
// others match too. Where the compiler fuses a float32 a·b + c itself (arm64) it is
// fma_fused.go's one expression; here it is emulated.
//
// The product of two float32 values is exact in float64, so only the sum rounds there; rounding that
// sum to float32 again differs from one rounding only when the float64 sum lands exactly halfway
// between two float32 values while the exact sum does not. Such a sum has its 28 low mantissa bits
// zero; for those the rounding error is recovered (two-sum) and the sum moved one float64 step toward
// the exact value, which then rounds to float32 as the exact sum does.
func fma32(a, b, c float32) float32 {
	p := float64(a) * float64(b)
	s := p + float64(c)
	if u := math.Float64bits(s); u&(1<<28-1) == 0 {
		pp := s - float64(c)
		e := (p - pp) + (float64(c) - (s - pp))
		if e > 0 || e < 0 { // inexact, and not an infinity or NaN
			// One step up in magnitude where e has the sign of s, else one step down.
			s = math.Float64frombits(u + 1 - 2*((math.Float64bits(e)^u)>>63))
		}
	}
	return float32(s)
}
