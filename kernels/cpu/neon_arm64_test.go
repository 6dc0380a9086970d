//go:build !purego

package cpu

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// sameBits reports whether a and b are the same float32, every NaN counting as one value.
func sameBits(a, b float32) bool {
	if a != a || b != b {
		return a != a && b != b
	}
	return math.Float32bits(a) == math.Float32bits(b)
}

// neonInputs returns n values: a dense sweep of [lo, hi], then the special values, then random ones,
// starting one element into their backing array.
func neonInputs(rng *rand.Rand, n int, lo, hi float64) []float32 {
	inf := math.Inf(1)
	special := []float64{0, math.Copysign(0, -1), inf, -inf, math.NaN(), 1e-40, -1e-40, 1e-45, 0x1p-126,
		-0x1p-126, math.MaxFloat32, -math.MaxFloat32, 88.72, 88.73, 89, -87.4, -103.2, -103.3, -104, -105}
	x := make([]float32, n+1)[1:]
	sweep := n / 2
	for i := range sweep {
		x[i] = float32(lo + (hi-lo)*float64(i)/float64(max(sweep-1, 1)))
	}
	for i := sweep; i < n; i++ {
		if j := i - sweep; j < len(special) {
			x[i] = float32(special[j])
		} else {
			x[i] = float32(rng.NormFloat64() * 4)
		}
	}
	return x
}

// TestNEONVectorKernelsBitwise holds each NEON vector kernel to its Go twin bit for bit over every
// length up to 80 (each way the tail can fall) and long rows, on sweeps through the ranges where exp
// and GELU change branch, on infinities, NaN, zeros of both signs and subnormals.
func TestNEONVectorKernelsBitwise(t *testing.T) {
	rng := rand.New(rand.NewPCG(41, 42))
	var sizes []int
	for n := 0; n <= 80; n++ {
		sizes = append(sizes, n)
	}
	sizes = append(sizes, 257, 1031, 4099)
	check := func(name string, n int, got, want []float32) {
		t.Helper()
		for i := range want {
			if !sameBits(got[i], want[i]) {
				t.Fatalf("%s n=%d: [%d] = %g (%#x), Go twin %g (%#x)", name, n, i, got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
			}
		}
	}
	for _, n := range sizes {
		for _, r := range []struct{ lo, hi float64 }{{-110, 95}, {-12, 12}, {-0.01, 0.01}} {
			x := neonInputs(rng, n, r.lo, r.hi)
			want, got := make([]float32, n), make([]float32, n)

			geluGo(want, x)
			geluNEON(got, x)
			check("Gelu", n, got, want)
			quickGeluGo(want, x)
			quickGeluNEON(got, x)
			check("QuickGelu", n, got, want)
			const m = 0.75
			ws, gs := expSubGo(want, x, m), expSubNEON(got, x, m)
			check("ExpSub", n, append(got, gs), append(want, ws))

			// The reductions and LayerNorm on finite inputs, where their sums are.
			y := randVec(rng, n, 2)
			f := make([]float32, n)
			for i, v := range x {
				if math.IsInf(float64(v), 0) || v != v || math.Abs(float64(v)) > 1e30 {
					v = float32(i % 7)
				}
				f[i] = v
			}
			check("Dot", n, []float32{dotNEON(f, y)}, []float32{dotGo(f, y)})
			check("Sum", n, []float32{sumNEON(f)}, []float32{sumGo(f)})
			check("MaxVal", n, []float32{maxValNEON(x)}, []float32{maxValGo(x)})
			wy, gy := append([]float32(nil), y...), append([]float32(nil), y...)
			axpyGo(-1.25, f, wy)
			axpyNEON(-1.25, f, gy)
			check("Axpy", n, gy, wy)
			copy(want, x)
			copy(got, x)
			scaleGo(0.3, want)
			scaleNEON(0.3, got)
			check("Scale", n, got, want)
			if n > 0 {
				w, b := randVec(rng, n, 1), randVec(rng, n, 1)
				for _, off := range []float32{0, 1000} {
					g := make([]float32, n)
					for i, v := range f {
						g[i] = v + off
					}
					layerNormGo(want, g, w, b, 1e-5)
					layerNormNEON(got, g, w, b, 1e-5)
					check("LayerNorm", n, got, want)
				}
			}
		}
	}
}

// TestNEONMaxValSignedZero checks that a largest value of zero has the sign of the first zero, as in
// the Go twin, whichever lane the zeros fall in.
func TestNEONMaxValSignedZero(t *testing.T) {
	negZero := float32(math.Copysign(0, -1))
	for n := 1; n <= 12; n++ {
		for first := range n {
			for _, z := range []float32{0, negZero} {
				x := make([]float32, n)
				for i := range x {
					x[i] = -1
				}
				x[first] = z
				for i := first + 1; i < n; i += 2 {
					x[i] = -z
				}
				if got, want := maxValNEON(x), maxValGo(x); !sameBits(got, want) {
					t.Fatalf("%v: MaxVal = %g (%#x), want %g (%#x)", x, got, math.Float32bits(got), want, math.Float32bits(want))
				}
			}
		}
	}
}

// TestNEONEpilogueBitwise holds epilogueNEON to epilogueGo bit for bit on blocks of every width up to
// 13 (whole vectors and the columns after them), each activation and each set of terms, with C holding
// the sweeps and special values of neonInputs.
func TestNEONEpilogueBitwise(t *testing.T) {
	rng := rand.New(rand.NewPCG(43, 44))
	const rows, ldc = 5, 19
	for n := 1; n <= 13; n++ {
		for terms := range 8 {
			for act := ActNone; act <= ActQuickGELU; act++ {
				c := neonInputs(rng, rows*ldc, -12, 12)
				rng.Shuffle(len(c), func(i, j int) { c[i], c[j] = c[j], c[i] })
				ep := &Epilogue{Act: act, LdAdd: ldc + 2}
				if terms&1 != 0 {
					ep.RowBias = randVec(rng, 1+rows, 1)
				}
				if terms&2 != 0 {
					ep.ColBias = randVec(rng, 2+n, 1)
				}
				if terms&4 != 0 {
					ep.Add = randVec(rng, (rows+1)*ep.LdAdd, 1)
				}
				want, got := append([]float32(nil), c...), append([]float32(nil), c...)
				// The block at (1, 2) of C: every term read from an offset.
				epilogueGo(ep, 1, rows-1, 2, n, want, ldc)
				epilogueNEON(ep, 1, rows-1, 2, n, got, ldc)
				for i := range want {
					if !sameBits(got[i], want[i]) {
						t.Fatalf("n=%d terms=%b act=%d: C[%d][%d] = %g (%#x), Go twin %g (%#x)", n, terms, act, i/ldc, i%ldc,
							got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
					}
				}
			}
		}
	}
}

// TestNEONDepthwiseBitwise holds depthwiseRowNEON to depthwiseRowGo bit for bit, with channel counts
// that leave every mix of 16-channel blocks, 4-channel blocks and channels run in Go, with and without
// a bias.
func TestNEONDepthwiseBitwise(t *testing.T) {
	rng := rand.New(rand.NewPCG(45, 46))
	for _, c := range []int{1, 3, 4, 5, 16, 17, 20, 23, 33, 36, 128} {
		for _, ps := range []int{c, c + 3, PixelStride(c)} {
			for k := 1; k <= 7; k += 2 {
				for stride := 1; stride <= 2; stride++ {
					const wo = 9
					ld := ((wo-1)*stride+k)*ps + 5
					src := randVec(rng, (k-1)*ld+((wo-1)*stride+k-1)*ps+c, 1)
					w := randVec(rng, (k*k-1)*ps+c, 1)
					for _, bias := range [][]float32{nil, randVec(rng, c, 1)} {
						want, got := make([]float32, wo*c), make([]float32, wo*c)
						depthwiseRowGo(want, src, ld, ps, w, bias, c, k, k, wo, stride)
						depthwiseRowNEON(got, src, ld, ps, w, bias, c, k, k, wo, stride)
						for i := range want {
							if !sameBits(got[i], want[i]) {
								t.Fatalf("c=%d ps=%d k=%d stride=%d bias=%t: dst[%d] = %g, Go twin %g", c, ps, k, stride, bias != nil, i, got[i], want[i])
							}
						}
					}
				}
			}
		}
	}
}

// TestNEONIsTheDefault checks that arm64 runs the NEON set unless PLP_CPU caps it, and that PLP_CPU=go
// and the x86 names behave as documented there.
func TestNEONIsTheDefault(t *testing.T) {
	if got := SupportedKernelSets(); len(got) != 2 || got[0] != "neon" || got[1] != "go" {
		t.Fatalf("SupportedKernelSets() = %v, want [neon go]", got)
	}
	var msg strings.Builder
	for _, c := range []struct{ env, want, msg string }{
		{"", "neon", ""}, {"neon", "neon", ""}, {"go", "go", ""}, {"avx2", "neon", "cannot run"}, {"avx512", "neon", "cannot run"},
	} {
		msg.Reset()
		s := chooseKernelSet(c.env, &msg)
		if s.name != c.want || !strings.Contains(msg.String(), c.msg) || (c.msg == "" && msg.Len() > 0) {
			t.Errorf("PLP_CPU=%q: set %s, message %q; want %s and a message containing %q", c.env, s.name, msg.String(), c.want, c.msg)
		}
	}
	if s := chooseKernelSet("", &msg); s.gemm != neonKernel || s.depthwiseRow == nil {
		t.Fatalf("the default set's SGEMM kernel is %s", s.gemm.name)
	}
}
