package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestPackRows checks each kernel's vector packing against packRowsGo,
// over full and partial panels and column counts on and off the 16-column
// blocks of the transposing path.
func TestPackRows(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 18))
	for _, kern := range kernels() {
		if kern.packRows == nil {
			continue
		}
		for _, w := range []int{kern.mr, kern.nr} {
			for _, rows := range []int{1, w - 1, w} {
				for _, kc := range []int{1, 15, 16, 17, 48, 63, 256} {
					ld := kc + 3
					src := randVec(rng, (rows-1)*ld+kc, 1)
					want := make([]float32, kc*w)
					got := make([]float32, kc*w+1)
					for i := range want {
						want[i], got[i] = float32(math.NaN()), float32(math.NaN())
					}
					got[kc*w] = 7
					packRowsGo(want, src, ld, rows, kc, w)
					kern.packRows(got[:kc*w], src, ld, rows, kc, w)
					for i := range want {
						if got[i] != want[i] {
							t.Fatalf("%s w=%d rows=%d kc=%d: dst[%d] = %g, want %g", kern.name, w, rows, kc, i, got[i], want[i])
						}
					}
					if got[kc*w] != 7 {
						t.Fatalf("%s w=%d rows=%d kc=%d: wrote past the panel", kern.name, w, rows, kc)
					}
				}
			}
		}
	}
}

// TestMicroKernels checks each micro-kernel on packed panels against the
// tile formula in float64, including beta = 0 over NaN.
func TestMicroKernels(t *testing.T) {
	rng := rand.New(rand.NewPCG(19, 20))
	for _, kern := range kernels() {
		for _, k := range []int{0, 1, 2, 3, 5, 64, 257} {
			for _, sc := range []struct{ alpha, beta float32 }{{1, 0}, {-0.5, 1}, {2, -0.25}} {
				t.Run(fmt.Sprintf("%s/k%d/a%g_b%g", kern.name, k, sc.alpha, sc.beta), func(t *testing.T) {
					mr, nr, ldc := kern.mr, kern.nr, kern.nr+5
					a := randVec(rng, max(k*mr, 1), 1)
					b := randVec(rng, max(k*nr, 1), 1)
					c := randVec(rng, mr*ldc, 1)
					c0 := append([]float32(nil), c...)
					if sc.beta == 0 {
						for i := range c {
							c[i] = float32(math.NaN())
						}
					}
					kern.fn(k, &a[0], &b[0], &c[0], ldc, sc.alpha, sc.beta)
					for i := 0; i < mr; i++ {
						for j := 0; j < ldc; j++ {
							got := c[i*ldc+j]
							if j >= nr {
								if sc.beta != 0 && got != c0[i*ldc+j] {
									t.Fatalf("C[%d][%d] past the tile changed", i, j)
								}
								continue
							}
							var s, mag float64
							for p := 0; p < k; p++ {
								v := float64(a[p*mr+i]) * float64(b[p*nr+j])
								s += v
								mag += math.Abs(v)
							}
							want := float64(sc.alpha) * s
							mag *= math.Abs(float64(sc.alpha))
							if sc.beta != 0 {
								want += float64(sc.beta) * float64(c0[i*ldc+j])
								mag += math.Abs(float64(sc.beta) * float64(c0[i*ldc+j]))
							}
							if !(math.Abs(float64(got)-want) <= tolGemm*mag+1e-30) {
								t.Fatalf("C[%d][%d] = %g, want %g", i, j, got, want)
							}
						}
					}
				})
			}
		}
	}
}

// TestPackCols checks each kernel's vector copy packing against
// packColsGo, reading to the very end of the source.
func TestPackCols(t *testing.T) {
	rng := rand.New(rand.NewPCG(27, 28))
	for _, kern := range kernels() {
		if kern.packCols == nil {
			continue
		}
		for _, w := range []int{kern.mr, kern.nr} {
			for _, cols := range []int{1, w - 1, w} {
				for _, kc := range []int{1, 2, 17, 256} {
					ld := cols + 5
					src := randVec(rng, (kc-1)*ld+cols, 1)
					want := make([]float32, kc*w)
					got := make([]float32, kc*w+1)
					for i := range want {
						want[i], got[i] = float32(math.NaN()), float32(math.NaN())
					}
					got[kc*w] = 7
					packColsGo(want, src, ld, cols, kc, w)
					kern.packCols(got[:kc*w], src, ld, cols, kc, w)
					for i := range want {
						if got[i] != want[i] {
							t.Fatalf("%s w=%d cols=%d kc=%d: dst[%d] = %g, want %g", kern.name, w, cols, kc, i, got[i], want[i])
						}
					}
					if got[kc*w] != 7 {
						t.Fatalf("%s w=%d cols=%d kc=%d: wrote past the panel", kern.name, w, cols, kc)
					}
				}
			}
		}
	}
}
