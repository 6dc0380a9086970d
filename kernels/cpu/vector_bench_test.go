package cpu

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkVector times each vector kernel of every kernel set on row
// lengths of ViT attention (197) and width (768, 3072).
func BenchmarkVector(b *testing.B) {
	for _, n := range []int{197, 768, 3072} {
		rng := rand.New(rand.NewPCG(1, uint64(n)))
		x, y, dst := randVec(rng, n, 1), randVec(rng, n, 1), make([]float32, n)
		for _, im := range vecImpls {
			bench := func(op string, f func()) {
				b.Run(fmt.Sprintf("%s/%s/%d", op, im.name, n), func(b *testing.B) {
					b.SetBytes(int64(4 * n))
					for i := 0; i < b.N; i++ {
						f()
					}
				})
			}
			bench("Dot", func() { im.dot(x, y) })
			bench("Axpy", func() { im.axpy(1e-3, x, y) })
			bench("Scale", func() { im.scale(1, y) })
			bench("Sum", func() { im.sum(x) })
			bench("MaxVal", func() { im.maxVal(x) })
			bench("ExpSub", func() { im.expSub(dst, x, 1) })
		}
		for _, im := range supportedSets() {
			b.Run(fmt.Sprintf("Gelu/%s/%d", im.name, n), func(b *testing.B) {
				b.SetBytes(int64(4 * n))
				for i := 0; i < b.N; i++ {
					im.gelu(dst, x)
				}
			})
			b.Run(fmt.Sprintf("QuickGelu/%s/%d", im.name, n), func(b *testing.B) {
				b.SetBytes(int64(4 * n))
				for i := 0; i < b.N; i++ {
					im.quickGelu(dst, x)
				}
			})
		}
	}
}
