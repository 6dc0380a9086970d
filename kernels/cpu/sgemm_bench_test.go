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

// BenchmarkMicroKernel times each micro-kernel on one tile with its panels
// in L1: the ceiling the blocking can approach.
func BenchmarkMicroKernel(b *testing.B) {
	for _, kern := range kernels() {
		b.Run(kern.name, func(b *testing.B) {
			const k = 256
			a := make([]float32, kern.mr*k)
			bp := make([]float32, kern.nr*k)
			c := make([]float32, kern.mr*kern.nr)
			for i := 0; i < b.N; i++ {
				kern.fn(k, &a[0], &bp[0], &c[0], kern.nr, 1, 1)
			}
			b.ReportMetric(2*float64(kern.mr*kern.nr*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// BenchmarkPack times packing row-stored panels, as for op(B) = Wᵀ, from a
// ViT-sized weight matrix.
func BenchmarkPack(b *testing.B) {
	for _, kern := range kernels() {
		widths := []int{kern.mr, kern.nr}
		if kern.mr == kern.nr {
			widths = widths[:1]
		}
		for _, w := range widths {
			b.Run(fmt.Sprintf("%s/w%d", kern.name, w), func(b *testing.B) {
				const rows, k, kc = 768, 768, 256
				src := make([]float32, rows*k)
				dst := make([]float32, kc*w)
				b.SetBytes(int64(4 * (rows / w) * w * k))
				for i := 0; i < b.N; i++ {
					for r := 0; r+w <= rows; r += w {
						for p := 0; p+kc <= k; p += kc {
							packRows(kern, dst, src[r*k+p:], k, w, kc, w)
						}
					}
				}
			})
		}
	}
}

// BenchmarkTransposes times the four storage orders of the first shape,
// which pack through different paths.
func BenchmarkTransposes(b *testing.B) {
	s := benchShapes[0]
	for _, tr := range []struct{ a, b bool }{{false, false}, {false, true}, {true, false}, {true, true}} {
		b.Run(fmt.Sprintf("tA=%t/tB=%t", tr.a, tr.b), func(b *testing.B) {
			a := make([]float32, s.m*s.k)
			w := make([]float32, s.n*s.k)
			c := make([]float32, s.m*s.n)
			lda, ldb := s.k, s.n
			if tr.a {
				lda = s.m
			}
			if tr.b {
				ldb = s.k
			}
			Sgemm(tr.a, tr.b, s.m, s.n, s.k, 1, a, lda, w, ldb, 0, c, s.n)
			b.ResetTimer()
			cpu0 := processCPUTime()
			for i := 0; i < b.N; i++ {
				Sgemm(tr.a, tr.b, s.m, s.n, s.k, 1, a, lda, w, ldb, 0, c, s.n)
			}
			flops := 2 * float64(s.m) * float64(s.n) * float64(s.k) * float64(b.N)
			b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			if cpu := processCPUTime() - cpu0; cpu > 0 {
				b.ReportMetric(flops/cpu.Seconds()/1e9, "GFLOP/cpu-s")
			}
		})
	}
}
