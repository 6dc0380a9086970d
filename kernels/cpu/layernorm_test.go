package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// refLayerNorm is LayerNorm in float64.
func refLayerNorm(x, w, b []float32, eps float32) []float64 {
	var s float64
	for _, v := range x {
		s += float64(v)
	}
	mean := s / float64(len(x))
	var ss float64
	for _, v := range x {
		ss += (float64(v) - mean) * (float64(v) - mean)
	}
	inv := 1 / math.Sqrt(ss/float64(len(x))+float64(eps))
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = (float64(v) - mean) * inv
		if w != nil {
			out[i] *= float64(w[i])
		}
		if b != nil {
			out[i] += float64(b[i])
		}
	}
	return out
}

// TestLayerNorm holds the vector kernel and its Go twin to a float64 reference, for row lengths around the
// vector widths, rows with a large common offset (the variance must not cancel), and the forms without
// scale or shift; the two must also agree with each other to a few units in the last place.
func TestLayerNorm(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	impls := lnImpls()
	for _, n := range []int{1, 7, 16, 17, 63, 64, 65, 197, 512, 768, 1031} {
		for _, offset := range []float64{0, 300} {
			for _, affine := range []string{"wb", "w", "none"} {
				t.Run(fmt.Sprintf("n%d_offset%g_%s", n, offset, affine), func(t *testing.T) {
					x := randVec(rng, n, 2)
					for i := range x {
						x[i] += float32(offset)
					}
					var w, b []float32
					if affine != "none" {
						w = randVec(rng, n, 1)
					}
					if affine == "wb" {
						b = randVec(rng, n, 1)
					}
					const eps = 1e-5
					want := refLayerNorm(x, w, b, eps)
					var outs [][]float32
					for _, im := range impls {
						// dst has a guard element past the end that must survive.
						dst := make([]float32, n+1)
						dst[n] = 42
						im.f(dst[:n], x, w, b, eps)
						if dst[n] != 42 {
							t.Fatalf("%s wrote past the end", im.name)
						}
						// The statistics are float32: allow 1e-5 of the normalised scale, a large offset included.
						for i, g := range dst[:n] {
							scale := 1.0
							if w != nil {
								scale = math.Abs(float64(w[i]))
							}
							tol := 1e-5*scale + 1e-6*math.Abs(want[i])
							if !(math.Abs(float64(g)-want[i]) <= tol) {
								t.Fatalf("%s: [%d] = %v, want %v", im.name, i, g, want[i])
							}
						}
						outs = append(outs, dst[:n])
					}
					for i := range outs[0] {
						a, c := outs[0][i], outs[1][i]
						if math.Abs(float64(a-c)) > 4e-7*(1+math.Abs(float64(c))) {
							t.Fatalf("[%d]: vector %v, go %v", i, a, c)
						}
					}
				})
			}
		}
	}
}

func TestLayerNormShort(t *testing.T) {
	for _, c := range []struct{ dst, w, b int }{{3, 4, 4}, {4, 3, 4}, {4, 4, 3}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("LayerNorm with dst %d, w %d, b %d of 4 values did not panic", c.dst, c.w, c.b)
				}
			}()
			LayerNorm(make([]float32, c.dst), make([]float32, 4), make([]float32, c.w), make([]float32, c.b), 1e-5)
		}()
	}
}

func BenchmarkLayerNorm(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 768
	x, w, bias, dst := randVec(rng, n, 1), randVec(rng, n, 1), randVec(rng, n, 1), make([]float32, n)
	for _, im := range lnImpls() {
		b.Run(im.name, func(b *testing.B) {
			for b.Loop() {
				im.f(dst, x, w, bias, 1e-5)
			}
			b.SetBytes(4 * n)
		})
	}
}

type lnImpl struct {
	name string
	f    func(dst, x, w, b []float32, eps float32)
}

// lnImpls are LayerNorm and the row kernel of every set the CPU runs.
func lnImpls() []lnImpl {
	ims := []lnImpl{{"dispatch", LayerNorm}}
	for _, s := range supportedSets() {
		f := s.layerNorm // for whole rows with both affine parts, as LayerNorm calls it
		ims = append(ims, lnImpl{s.name, func(dst, x, w, b []float32, eps float32) {
			n := len(x)
			if w == nil || b == nil {
				layerNormGo(dst[:n], x, w, b, eps)
				return
			}
			f(dst[:n], x, w[:n], b[:n], eps)
		}})
	}
	return ims
}
