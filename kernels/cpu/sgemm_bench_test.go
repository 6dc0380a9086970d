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

// modelShapes are the GEMMs where the model forward passes spend their
// time, M×K×N with op(B) = Wᵀ: CLIP text blocks (16 prompts of 77 tokens),
// the channels-last ResNet-50 convolutions at batch 16 (M = B·H·W, K =
// kh·kw·Cin, N = Cout), the per-image NCHW convolutions (M = Cout, N = H·W,
// B stored K×N as im2col lays it out), and the pointwise MLPs of the first
// two ConvNeXt-B stages at batch 16.
var modelShapes = []struct {
	name    string
	m, k, n int
	transB  bool
}{
	{"text-qkv", 1232, 512, 1536, true}, {"text-proj", 1232, 512, 512, true},
	{"text-fc1", 1232, 512, 2048, true}, {"text-fc2", 1232, 2048, 512, true},
	{"nhwc-l1-1x1", 50176, 64, 64, true}, {"nhwc-l1-3x3", 50176, 576, 64, true},
	{"nhwc-l1-exp", 50176, 64, 256, true}, {"nhwc-l2-3x3", 12544, 1152, 128, true},
	{"nhwc-l3-red", 3136, 1024, 256, true}, {"nhwc-l3-exp", 3136, 256, 1024, true},
	{"nhwc-l4-3x3", 784, 4608, 512, true}, {"nhwc-l4-exp", 784, 512, 2048, true},
	{"nchw-l1-3x3", 64, 576, 3136, false}, {"nchw-l1-exp", 256, 64, 3136, false},
	{"nchw-l3-exp", 1024, 256, 196, false}, {"nchw-l4-exp", 2048, 512, 49, false},
	{"nchw-l4-3x3", 512, 4608, 49, false},
	{"cnx-s1-fc1", 50176, 128, 512, true}, {"cnx-s1-fc2", 50176, 512, 128, true},
	{"cnx-s2-fc1", 12544, 256, 1024, true},
}

// BenchmarkSgemmModel times Sgemm on modelShapes.
func BenchmarkSgemmModel(b *testing.B) {
	for _, s := range modelShapes {
		b.Run(fmt.Sprintf("%s/%dx%dx%d", s.name, s.m, s.k, s.n), func(b *testing.B) {
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
			ldb := s.n
			if s.transB {
				ldb = s.k
			}
			Sgemm(false, s.transB, s.m, s.n, s.k, 1, a, s.k, w, ldb, 0, c, s.n)
			b.ResetTimer()
			cpu0 := processCPUTime()
			for i := 0; i < b.N; i++ {
				Sgemm(false, s.transB, s.m, s.n, s.k, 1, a, s.k, w, ldb, 0, c, s.n)
			}
			flops := 2 * float64(s.m) * float64(s.n) * float64(s.k) * float64(b.N)
			b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			if cpu := processCPUTime() - cpu0; cpu > 0 {
				b.ReportMetric(flops/cpu.Seconds()/1e9, "GFLOP/cpu-s")
			}
		})
	}
}

// epilogueShapes are the linear layers of the ViT-B/16 image tower (3152
// tokens) and the CLIP text tower (1232 tokens) with their epilogues.
var epilogueShapes = []struct {
	name          string
	m, k, n       int
	bias, residue bool
	act           Act
}{
	{"vit-qkv-bias", 3152, 768, 2304, true, false, ActNone},
	{"vit-fc1-bias-gelu", 3152, 768, 3072, true, false, ActGELU},
	{"vit-fc2-bias-add", 3152, 3072, 768, true, true, ActNone},
	{"text-qkv-bias", 1232, 512, 1536, true, false, ActNone},
	{"text-fc1-bias-qgelu", 1232, 512, 2048, true, false, ActQuickGELU},
	{"text-fc2-bias-add", 1232, 2048, 512, true, true, ActNone},
}

// BenchmarkSgemmEpilogue times x·Wᵀ with its epilogue three ways: fused
// (SgemmEpilogue), Sgemm then one pass applying the whole epilogue, and
// Sgemm then one pass per term, as unfused layers run; and Sgemm alone, the
// floor. GFLOP/s counts the product's flops only.
func BenchmarkSgemmEpilogue(b *testing.B) {
	for _, s := range epilogueShapes {
		rng := rand.New(rand.NewPCG(1, 1))
		fill := func(n int) []float32 {
			v := make([]float32, n)
			for i := range v {
				v[i] = rng.Float32() - 0.5
			}
			return v
		}
		x, w, c := fill(s.m*s.k), fill(s.n*s.k), make([]float32, s.m*s.n)
		ep := &Epilogue{Act: s.act, LdAdd: s.n}
		if s.bias {
			ep.ColBias = fill(s.n)
		}
		if s.residue {
			ep.Add = fill(s.m * s.n)
		}
		variants := []struct {
			name string
			run  func()
		}{
			{"sgemm", func() { Sgemm(false, true, s.m, s.n, s.k, 1, x, s.k, w, s.k, 0, c, s.n) }},
			{"fused", func() { SgemmEpilogue(false, true, s.m, s.n, s.k, x, s.k, w, s.k, c, s.n, ep) }},
			{"onepass", func() {
				Sgemm(false, true, s.m, s.n, s.k, 1, x, s.k, w, s.k, 0, c, s.n)
				pass(s.m, func(i0, i1 int) { epilogueVec(ep, i0, i1-i0, 0, s.n, c, s.n) })
			}},
			{"passes", func() {
				Sgemm(false, true, s.m, s.n, s.k, 1, x, s.k, w, s.k, 0, c, s.n)
				for _, e := range []*Epilogue{{ColBias: ep.ColBias}, {Add: ep.Add, LdAdd: ep.LdAdd}, {Act: ep.Act}} {
					if e.ColBias != nil || e.Add != nil || e.Act != ActNone {
						pass(s.m, func(i0, i1 int) { kernel.applyEpilogue(e, i0, i1-i0, 0, s.n, c, s.n) })
					}
				}
			}},
		}
		for _, v := range variants {
			b.Run(fmt.Sprintf("%s/%dx%dx%d/%s", s.name, s.m, s.k, s.n, v.name), func(b *testing.B) {
				v.run()
				b.ResetTimer()
				cpu0 := processCPUTime()
				for i := 0; i < b.N; i++ {
					v.run()
				}
				flops := 2 * float64(s.m) * float64(s.n) * float64(s.k) * float64(b.N)
				b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				if cpu := processCPUTime() - cpu0; cpu > 0 {
					b.ReportMetric(flops/cpu.Seconds()/1e9, "GFLOP/cpu-s")
				}
			})
		}
	}
}

// pass runs f over [0, m) split evenly among Threads() goroutines, as the
// backend runs its elementwise passes.
func pass(m int, f func(i0, i1 int)) {
	t := Threads()
	parallel(t, func(w int) { f(w*m/t, (w+1)*m/t) })
}

// BenchmarkSgemmInPlaceA times modelShapes with A packed and read in
// place, where the kernel can read it in place: the data behind inPlaceMaxN.
func BenchmarkSgemmInPlaceA(b *testing.B) {
	defer func(v int) { kernel.inPlaceMaxN = v }(kernel.inPlaceMaxN)
	for _, s := range modelShapes {
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
		ldb := s.n
		if s.transB {
			ldb = s.k
		}
		for _, v := range []struct {
			name string
			max  int
		}{{"packed", -1}, {"inplace", 1 << 30}} {
			b.Run(fmt.Sprintf("%s/%dx%dx%d/%s", s.name, s.m, s.k, s.n, v.name), func(b *testing.B) {
				kernel.inPlaceMaxN = v.max
				Sgemm(false, s.transB, s.m, s.n, s.k, 1, a, s.k, w, ldb, 0, c, s.n)
				b.ResetTimer()
				cpu0 := processCPUTime()
				for i := 0; i < b.N; i++ {
					Sgemm(false, s.transB, s.m, s.n, s.k, 1, a, s.k, w, ldb, 0, c, s.n)
				}
				flops := 2 * float64(s.m) * float64(s.n) * float64(s.k) * float64(b.N)
				b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				if cpu := processCPUTime() - cpu0; cpu > 0 {
					b.ReportMetric(flops/cpu.Seconds()/1e9, "GFLOP/cpu-s")
				}
			})
		}
	}
}
