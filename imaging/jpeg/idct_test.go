package jpeg

import (
	"math"
	"math/rand/v2"
	"testing"
)

// fdctBlock returns the dequantized coefficients (natural order) that an
// encoder with quantiser steps q would store for the 8×8 samples px: the
// forward DCT, rounded to multiples of q.
func fdctBlock(px *[64]float64, q *[64]int32) [64]int32 {
	var out [64]int32
	for v := 0; v < 8; v++ {
		for u := 0; u < 8; u++ {
			s := 0.0
			for y := 0; y < 8; y++ {
				for x := 0; x < 8; x++ {
					s += (px[y*8+x] - 128) *
						math.Cos(float64(2*x+1)*float64(u)*math.Pi/16) *
						math.Cos(float64(2*y+1)*float64(v)*math.Pi/16)
				}
			}
			cu, cv := 1.0, 1.0
			if u == 0 {
				cu = 1 / math.Sqrt2
			}
			if v == 0 {
				cv = 1 / math.Sqrt2
			}
			f := s * cu * cv / 4
			k := v*8 + u
			out[k] = int32(math.Round(f/float64(q[k]))) * q[k]
		}
	}
	return out
}

// TestIDCTZeroMatchesScalar checks the dispatching IDCT (vector on CPUs
// that have it) against the scalar transform on blocks as real encoders
// make them: smooth, noisy and hard-edged content at fine and coarse
// quantisation, including overshoot beyond 0..255.
func TestIDCTZeroMatchesScalar(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const stride = 24
	for trial := 0; trial < 3000; trial++ {
		var px [64]float64
		base, gx, gy := rng.Float64()*255, rng.NormFloat64()*20, rng.NormFloat64()*20
		noise := []float64{0, 5, 40, 120}[trial%4]
		for i := range px {
			v := base + gx*float64(i%8-4) + gy*float64(i/8-4) + rng.NormFloat64()*noise
			if trial%3 == 0 && i%8 > 3 {
				v = 255 - v // hard edge
			}
			px[i] = min(max(v, 0), 255)
		}
		var q [64]int32
		qs := 1 + rng.Int32N(40)
		for i := range q {
			q[i] = max(1, qs*(1+int32(i/8+i%8))/3)
		}
		blk := fdctBlock(&px, &q)
		want := make([]uint8, 8*stride)
		got := make([]uint8, 8*stride)
		for i := range got {
			got[i], want[i] = 0xAA, 0xAA
		}
		in := blk
		idct(&in, want[2:], stride)
		in = blk
		idctZero(&in, got[2:], stride)
		if in != [64]int32{} {
			t.Fatal("idctZero left coefficients")
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("trial %d: byte %d (row %d col %d) = %d, want %d; block %v", trial, i, i/stride, i%stride-2, got[i], want[i], blk)
			}
		}
	}
}
