package cpu

import (
	"math"
	"math/rand/v2"
	"testing"
)

// activationInputs are random values plus the ranges where GELU is hard:
// zero, the far negative tail and large magnitudes.
func activationInputs(rng *rand.Rand, n int) []float32 {
	x := randVec(rng, n, 3)
	special := []float32{0, 1e-8, -1e-8, 0.5, -0.5, 1, -1, 2.5, -2.5, 5, -5, 8, -8, -10, -12, 10, 50, -50, 1e4}
	copy(x, special[:min(n, len(special))])
	return x
}

func TestGelu(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 24))
	impls := []struct {
		name            string
		gelu, quickGelu func(dst, x []float32)
	}{{"dispatch", Gelu, QuickGelu}}
	for _, s := range supportedSets() {
		impls = append(impls, struct {
			name            string
			gelu, quickGelu func(dst, x []float32)
		}{s.name, s.gelu, s.quickGelu})
	}
	for _, n := range append(vecSizes, 19) {
		x := activationInputs(rng, n)
		for _, im := range impls {
			dst := make([]float32, n+1)
			im.gelu(dst[:n], x)
			for i, v := range x {
				want := 0.5 * float64(v) * math.Erfc(-float64(v)/math.Sqrt2)
				// The documented bound, with a floor where the tail turns
				// subnormal.
				tol := (2e-6 + 2e-7*float64(v)*float64(v)) * math.Abs(want)
				if d := math.Abs(float64(dst[i]) - want); !(d <= tol+1e-37) {
					t.Fatalf("%s: Gelu(%g) = %g, want %g (rel %.2g)", im.name, v, dst[i], want, d/math.Abs(want))
				}
			}
			q := make([]float32, n+1)
			im.quickGelu(q[:n], x)
			for i, v := range x {
				want := float64(v) / (1 + math.Exp(-1.702*float64(v)))
				if d := math.Abs(float64(q[i]) - want); !(d <= 1e-6*math.Abs(want)+1e-37) {
					t.Fatalf("%s: QuickGelu(%g) = %g, want %g (rel %.2g)", im.name, v, q[i], want, d/math.Abs(want))
				}
			}
			if dst[n] != 0 || q[n] != 0 {
				t.Fatalf("%s: n=%d wrote past the end", im.name, n)
			}
		}
	}
}

func TestGeluNaNAndInPlace(t *testing.T) {
	x := []float32{float32(math.NaN()), 1, -2}
	want := make([]float32, 3)
	geluGo(want, x)
	Gelu(x, x)
	if !math.IsNaN(float64(x[0])) || math.Abs(float64(x[1]-want[1])) > 1e-6 || math.Abs(float64(x[2]-want[2])) > 1e-6 {
		t.Fatalf("Gelu in place = %v, want NaN, %g, %g", x, want[1], want[2])
	}
}
