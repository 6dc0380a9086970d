package cpu

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// benchShapes are the GEMMs of ViT-B/L blocks at batch 16: M×K×N.
var benchShapes = []struct{ m, k, n int }{
	{3152, 768, 2304}, {3152, 768, 768}, {3152, 3072, 768}, {3152, 768, 3072}, {4112, 1024, 4096},
}

func BenchmarkSgemm(b *testing.B) {
	for _, kern := range kernels() {
		for _, s := range benchShapes {
			if kern == goKernel && kernel != goKernel {
				continue // the portable kernel takes minutes where it is not in use
			}
			b.Run(fmt.Sprintf("%s/%dx%dx%d", kern.name, s.m, s.k, s.n), func(b *testing.B) {
				rng := rand.New(rand.NewPCG(1, 1))
				a := make([]float32, s.m*s.k)
				w := make([]float32, s.n*s.k)
				c := make([]float32, s.m*s.n)
				for i := range a {
					a[i] = rng.Float32()
				}
				for i := range w {
					w[i] = rng.Float32()
				}
				// x·Wᵀ, as a linear layer calls it.
				sgemm(kern, false, true, s.m, s.n, s.k, 1, a, s.k, w, s.k, 0, c, s.n)
				b.ResetTimer()
				cpu0 := processCPUTime()
				for i := 0; i < b.N; i++ {
					sgemm(kern, false, true, s.m, s.n, s.k, 1, a, s.k, w, s.k, 0, c, s.n)
				}
				flops := 2 * float64(s.m) * float64(s.n) * float64(s.k) * float64(b.N)
				b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				// Per core-second of CPU time: comparable across runs even
				// when other jobs take cores away.
				if cpu := processCPUTime() - cpu0; cpu > 0 {
					b.ReportMetric(flops/cpu.Seconds()/1e9, "GFLOP/cpu-s")
				}
			})
		}
	}
}
