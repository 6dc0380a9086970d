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
// zero; for those the rounding error e is recovered (two-sum) and, when not zero, the sum moved by
// 2⁻⁴⁰ of itself toward the exact value: off the halfway point, yet far short of the next float32
// boundary, so that it rounds to float32 as the exact sum does.
func fma32(a, b, c float32) float32 {
	p := float64(a) * float64(b)
	s := p + float64(c)
	if math.Float64bits(s)&(1<<28-1) == 0 {
		d := s - float64(c)
		if e := (p - d) + (float64(c) - (s - d)); e > 0 || e < 0 { // inexact, not an infinity or NaN
			s += math.Copysign(s*0x1p-40, e)
		}
	}
	return float32(s)
}
