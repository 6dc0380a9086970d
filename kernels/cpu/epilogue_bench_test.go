package cpu

import (
	"fmt"
	"testing"
)

// BenchmarkEpilogueTile times the epilogue of one mr×nr tile of C in L1,
// with a column bias, for each activation and each implementation: what
// SgemmEpilogue adds to a tile's products (BenchmarkMicroKernel times
// those, per kc block).
func BenchmarkEpilogueTile(b *testing.B) {
	kern := kernel
	ldc := 3 * kern.nr
	c := make([]float32, kern.mr*ldc)
	bias := make([]float32, ldc)
	for i := range c {
		c[i] = float32(i%17) - 8
	}
	impls := []struct {
		name string
		f    func(ep *Epilogue, i0, m, j0, n int, c []float32, ldc int)
	}{{"kernel", kern.applyEpilogue}, {"vec", epilogueVec}, {"go", epilogueGo}}
	for _, act := range []Act{ActNone, ActReLU, ActGELU, ActQuickGELU} {
		for _, im := range impls {
			b.Run(fmt.Sprintf("act%d/%s", act, im.name), func(b *testing.B) {
				ep := &Epilogue{ColBias: bias, Act: act}
				for i := 0; i < b.N; i++ {
					im.f(ep, 0, kern.mr, kern.nr, kern.nr, c, ldc)
				}
			})
		}
	}
}
