package cpu

import (
	"bytes"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// kernels returns the SGEMM micro-kernel of every kernel set the CPU runs, fastest first, Go last.
func kernels() []*microKernel {
	var ks []*microKernel
	for _, s := range supportedSets() {
		if !slices.Contains(ks, s.gemm) {
			ks = append(ks, s.gemm)
		}
	}
	return ks
}

// asmKernels is kernels without the Go micro-kernel.
func asmKernels() []*microKernel {
	ks := kernels()
	return slices.DeleteFunc(ks, func(k *microKernel) bool { return k == goKernel })
}

func TestChooseKernelSet(t *testing.T) {
	sets := SupportedKernelSets()
	best := sets[0]
	if sets[len(sets)-1] != "go" {
		t.Fatalf("SupportedKernelSets() = %v, want go last", sets)
	}
	cases := []struct {
		env, want, msg string
	}{
		{"", best, ""},
		{"go", "go", ""},
		{" GO ", "go", ""},
		{"sse9", best, "not a kernel set"},
	}
	for _, name := range kernelSetNames {
		if slices.Contains(sets, name) {
			cases = append(cases, struct{ env, want, msg string }{name, name, ""})
		} else {
			cases = append(cases, struct{ env, want, msg string }{name, best, "cannot run"})
		}
	}
	for _, c := range cases {
		var msg bytes.Buffer
		got := chooseKernelSet(c.env, &msg)
		if got.name != c.want {
			t.Errorf("PLP_CPU=%q chose %s, want %s", c.env, got.name, c.want)
		}
		if c.msg == "" && msg.Len() > 0 || !strings.Contains(msg.String(), c.msg) {
			t.Errorf("PLP_CPU=%q said %q, want a message containing %q", c.env, msg.String(), c.msg)
		}
	}
}

// TestSetKernelSetSwitchesEveryKernel checks that making a set active routes the public functions to it.
func TestSetKernelSetSwitchesEveryKernel(t *testing.T) {
	for _, name := range SupportedKernelSets() {
		restore := setKernelSet(name)
		if KernelSet() != name || active.gemm != kernel {
			restore()
			t.Fatalf("after setKernelSet(%s): KernelSet() = %s", name, KernelSet())
		}
		s := active
		restore()
		for _, k := range []*microKernel{s.gemm} {
			if k == nil || s.dot == nil || s.expSub == nil || s.gelu == nil || s.layerNorm == nil || s.depthwiseRow == nil {
				t.Fatalf("set %s has a nil kernel", name)
			}
		}
	}
}

// runAllKernels runs every public kernel on odd sizes and unaligned starts with inputs from seed and
// returns all results in one slice, for comparing kernel sets bit for bit.
func runAllKernels(seed uint64) []float32 {
	rng := rand.New(rand.NewPCG(seed, 99))
	var out []float32
	for _, s := range []struct{ m, n, k int }{{1, 1, 1}, {13, 37, 29}, {29, 70, 300}, {45, 33, 17}, {100, 130, 257}} {
		for _, tr := range []struct{ a, b bool }{{false, false}, {false, true}, {true, false}} {
			a, b := randVec(rng, s.m*s.k, 1), randVec(rng, s.k*s.n, 1)
			lda, ldb := s.k, s.n
			if tr.a {
				lda = s.m
			}
			if tr.b {
				ldb = s.k
			}
			c := randVec(rng, s.m*s.n, 1)
			Sgemm(tr.a, tr.b, s.m, s.n, s.k, 0.5, a, lda, b, ldb, 0.25, c, s.n)
			out = append(out, c...)
			for act := ActNone; act <= ActQuickGELU; act++ {
				ep := &Epilogue{RowBias: randVec(rng, s.m, 1), ColBias: randVec(rng, s.n, 1), Add: randVec(rng, s.m*s.n, 1), LdAdd: s.n, Act: act}
				SgemmEpilogue(tr.a, tr.b, s.m, s.n, s.k, a, lda, b, ldb, c, s.n, ep)
				out = append(out, c...)
			}
		}
	}
	for _, n := range []int{1, 7, 15, 17, 31, 33, 63, 65, 197, 1031} {
		x, y := randVec(rng, n, 3), randVec(rng, n, 1)
		out = append(out, Dot(x, y), Sum(x), MaxVal(x))
		Axpy(-0.75, x, y)
		out = append(out, y...)
		d := make([]float32, n)
		out = append(out, ExpSub(d, x, MaxVal(x)))
		out = append(out, d...)
		Gelu(d, x)
		out = append(out, d...)
		QuickGelu(d, x)
		out = append(out, d...)
		w, b := randVec(rng, n, 1), randVec(rng, n, 1)
		LayerNorm(d, x, w, b, 1e-5)
		out = append(out, d...)
	}
	for _, g := range []struct{ c, kh, kw, wo, stride int }{{5, 3, 3, 9, 1}, {37, 7, 7, 11, 1}, {19, 3, 3, 8, 2}} {
		ps := PixelStride(g.c)
		ld := ((g.wo-1)*g.stride + g.kw) * ps
		src, w, bias := randVec(rng, g.kh*ld, 1), randVec(rng, g.kh*g.kw*ps, 1), randVec(rng, g.c, 1)
		d := make([]float32, g.wo*g.c)
		DepthwiseRow(d, src, ld, ps, w, bias, g.c, g.kh, g.kw, g.wo, g.stride)
		out = append(out, d...)
	}
	return out
}

// TestKernelSetsAgreeBitwise holds every kernel set to the Go twins bit for bit: the sets fuse and order
// their sums alike (fma32, foldLanes), so results do not depend on the CPU.
func TestKernelSetsAgreeBitwise(t *testing.T) {
	defer setKernelSet("go")()
	want := runAllKernels(1)
	for _, name := range SupportedKernelSets() {
		setKernelSet(name)
		got := runAllKernels(1)
		for i := range want {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Errorf("%s: result %d = %g (%#x), Go twins %g (%#x)", name, i, got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
				break
			}
		}
	}
}

func TestFma32(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	// a·b + c = 1 + 2⁻²³ + 2⁻²⁴ - 2⁻⁷⁰ lies just below a tie, so it rounds down to 1 + 2⁻²³; the
	// float64 sum drops the 2⁻⁷⁰ and lands on the tie, which would round to even, up.
	cases := [][4]float32{
		{1, 1, 0x1p-24, 1}, // an exact tie goes to even
		{0x1p-24 + 0x1p-47, 1 - 0x1p-23, 1 + 0x1p-23, 1 + 0x1p-23},
		{-(0x1p-24 + 0x1p-47), 1 - 0x1p-23, -(1 + 0x1p-23), -(1 + 0x1p-23)},
		{0x1p-24 + 0x1p-47, -(1 - 0x1p-23), 1 + 0x1p-22, 1 + 0x1p-22},
	}
	for _, c := range cases {
		if got := fma32(c[0], c[1], c[2]); got != c[3] {
			t.Errorf("fma32(%g, %g, %g) = %.10g, want %.10g", c[0], c[1], c[2], got, c[3])
		}
	}
	for range 100000 {
		a, b, c := float32(rng.NormFloat64()), float32(rng.NormFloat64()), float32(rng.NormFloat64())
		want := float32(math.FMA(float64(a), float64(b), float64(c)))
		if got := fma32(a, b, c); got != want && !closeTie(a, b, c) {
			t.Fatalf("fma32(%g, %g, %g) = %g, want %g", a, b, c, got, want)
		}
	}
}

// closeTie reports whether a·b + c in float64 lands on a float32 tie, where float32(math.FMA) may round
// twice and fma32 is the one to trust.
func closeTie(a, b, c float32) bool {
	return math.Float64bits(math.FMA(float64(a), float64(b), float64(c)))&(1<<28-1) == 0
}
