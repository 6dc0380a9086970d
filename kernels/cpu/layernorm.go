package cpu

import (
	"fmt"
	"math"
)

// LayerNorm normalises the row x into dst: (x-mean)/sqrt(var+eps)·w + b, with the mean and the biased
// variance of x. w and b may be nil (no scale, no shift); otherwise they, and dst, hold len(x) values.
// The statistics are float32 sums over sixteen-lane partials of values shifted by x[0], and the variance
// sums the squared deviations from the mean, so a large common offset (late transformer blocks) costs
// neither the mean nor the variance their precision.
func LayerNorm(dst, x, w, b []float32, eps float32) {
	n := len(x)
	if len(dst) < n || (w != nil && len(w) < n) || (b != nil && len(b) < n) {
		panic(fmt.Sprintf("cpu: LayerNorm of %d values into %d with %d weights and %d biases", n, len(dst), len(w), len(b)))
	}
	if n == 0 {
		return
	}
	if w != nil && b != nil {
		layerNorm(dst[:n], x, w[:n], b[:n], eps)
		return
	}
	// The rare forms without an affine part run in Go.
	layerNormGo(dst[:n], x, w, b, eps)
}

// layerNormGo is the pure-Go twin of the vector kernel, with the same lane structure for the sums.
func layerNormGo(dst, x, w, b []float32, eps float32) {
	n := float32(len(x))
	mean := x[0] + laneSum(x, x[0], false)/n
	variance := laneSum(x, mean, true) / n
	inv := 1 / float32(math.Sqrt(float64(variance+eps)))
	for i, v := range x {
		t := float32((v - mean) * inv) // rounded, never fused with the shift below
		switch {
		case w != nil && b != nil:
			t = fma32(t, w[i], b[i])
		case w != nil:
			t *= w[i]
		case b != nil:
			t += b[i]
		}
		dst[i] = t
	}
}

// laneSum returns Σ(x-m) (or Σ(m-x)² when sq, in fused multiply-adds) accumulated as the vector kernel does: sixteen lanes in four
// accumulators over blocks of 64, then 16 into the first, the tail into the second, the accumulators
// added pairwise and the lanes folded in halves.
func laneSum(x []float32, m float32, sq bool) float32 {
	var acc [64]float32 // accumulator a, lane l at 16a+l
	i := 0
	if sq {
		for ; i+64 <= len(x); i += 64 {
			for j, v := range x[i : i+64] {
				d := m - v
				acc[j] = fma32(d, d, acc[j])
			}
		}
		for ; i+16 <= len(x); i += 16 {
			for j, v := range x[i : i+16] {
				d := m - v
				acc[j] = fma32(d, d, acc[j])
			}
		}
		for j, v := range x[i:] {
			d := m - v
			acc[16+j] = fma32(d, d, acc[16+j])
		}
	} else {
		for ; i+64 <= len(x); i += 64 {
			for j, v := range x[i : i+64] {
				acc[j] += v - m
			}
		}
		for ; i+16 <= len(x); i += 16 {
			for j, v := range x[i : i+16] {
				acc[j] += v - m
			}
		}
		for j, v := range x[i:] {
			acc[16+j] += v - m
		}
	}
	return foldLanes(&acc)
}
