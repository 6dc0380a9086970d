package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// epCase is one SgemmEpilogue problem: the product and which epilogue
// terms to apply.
type epCase struct {
	g                gemmCase
	rowBias, colBias bool
	add              bool
	inPlace          bool // Add is C itself
	act              Act
}

func (e epCase) String() string {
	return fmt.Sprintf("%v_row%t_col%t_add%t_inplace%t_act%d", e.g, e.rowBias, e.colBias, e.add, e.inPlace, e.act)
}

// refAct is the activation in float64 from its definition.
func refAct(a Act, x float64) float64 {
	switch a {
	case ActReLU:
		return math.Max(x, 0)
	case ActGELU:
		return 0.5 * x * (1 + math.Erf(x/math.Sqrt2))
	case ActQuickGELU:
		return x / (1 + math.Exp(-1.702*x))
	}
	return x
}

// epOperands builds the epilogue of e with random terms; c0 is C before the
// call, which an in-place Add reads.
func epOperands(rng *rand.Rand, e epCase, c0 []float32, ldc int) (ep *Epilogue, rb, cb, add []float32, ldAdd int) {
	fill := func(n int) []float32 {
		s := make([]float32, n)
		for i := range s {
			s[i] = float32(4 * rng.NormFloat64())
		}
		return s
	}
	ep = &Epilogue{Act: e.act}
	if e.rowBias {
		rb = fill(e.g.m)
		ep.RowBias = rb
	}
	if e.colBias {
		cb = fill(e.g.n)
		ep.ColBias = cb
	}
	switch {
	case e.inPlace:
		add, ldAdd = c0, ldc
	case e.add:
		ldAdd = e.g.n + 2
		add = fill(e.g.m * ldAdd)
		ep.Add, ep.LdAdd = add, ldAdd
	}
	return ep, rb, cb, add, ldAdd
}

// refEpilogue applies e's epilogue to the float64 product want, with the
// magnitudes mag of its terms, in place.
func refEpilogue(e epCase, want, mag []float64, rb, cb, add []float32, ldAdd int) {
	for i := 0; i < e.g.m; i++ {
		for j := 0; j < e.g.n; j++ {
			v, s := want[i*e.g.n+j], mag[i*e.g.n+j]
			for _, t := range []struct {
				on bool
				x  func() float32
			}{
				{rb != nil, func() float32 { return rb[i] }},
				{cb != nil, func() float32 { return cb[j] }},
				{add != nil, func() float32 { return add[i*ldAdd+j] }},
			} {
				if t.on {
					v += float64(t.x())
					s += math.Abs(float64(t.x()))
				}
			}
			want[i*e.g.n+j], mag[i*e.g.n+j] = refAct(e.act, v), s
		}
	}
}

// epTol bounds the error of an epilogue result: the rounding of the sum,
// which the activations pass on with a slope of at most 1.13, and that of
// the activation itself.
func epTol(want, mag float64) float64 {
	return 1.2*tolGemm*mag + 4e-6*math.Abs(want) + 1e-30
}

// runEpilogue runs e on kern (the Go twin for goKernel) and checks C against
// the float64 reference, returning C.
func runEpilogue(t *testing.T, kern *microKernel, e epCase, rng *rand.Rand) []float32 {
	t.Helper()
	g := e.g
	a, lda, b, ldb, c0, ldc := g.operands(rng)
	want, mag := refGemm(gemmCase{m: g.m, n: g.n, k: g.k, alpha: 1, transA: g.transA, transB: g.transB}, a, lda, b, ldb, c0, ldc)
	if !e.inPlace {
		// beta is 0: old values of C, NaN included, must not show.
		for i := 0; i < g.m; i++ {
			for j := 0; j < g.n; j++ {
				c0[i*ldc+j] = float32(math.NaN())
			}
		}
	}
	ep, rb, cb, add, ldAdd := epOperands(rng, e, c0, ldc)
	refEpilogue(e, want, mag, rb, cb, append([]float32(nil), add...), ldAdd)
	c := append([]float32(nil), c0...)
	if e.inPlace {
		ep.Add, ep.LdAdd = c, ldc
	}
	if kern == goKernel {
		sgemmEpilogueGo(g.transA, g.transB, g.m, g.n, g.k, a, lda, b, ldb, c, ldc, ep)
	} else {
		ep2, beta := ep.prepare(c)
		checkEpilogue(g.m, g.n, ep, c, ldc)
		sgemmEp(kern, g.transA, g.transB, g.m, g.n, g.k, 1, a, lda, b, ldb, beta, c, ldc, ep2)
	}
	for i := 0; i < g.m; i++ {
		for j := 0; j < ldc; j++ {
			got := float64(c[i*ldc+j])
			if j >= g.n {
				if c[i*ldc+j] != c0[i*ldc+j] {
					t.Fatalf("padding C[%d][%d] changed", i, j)
				}
				continue
			}
			w := want[i*g.n+j]
			if tol := epTol(w, mag[i*g.n+j]); !(math.Abs(got-w) <= tol) {
				t.Fatalf("C[%d][%d] = %g, want %g ± %g", i, j, got, w, tol)
			}
		}
	}
	return c
}

func epCases() []epCase {
	sizes := []int{1, 13, 14, 15, 31, 33, 100, 257}
	var cs []epCase
	i := 0
	for _, m := range sizes {
		for _, n := range sizes {
			// Every m and n, with k cycling through the sizes too, and the
			// epilogue terms cycling through their combinations.
			k := sizes[(i*3+1)%len(sizes)]
			if m*n*k > 1<<21 {
				k = 14
			}
			for act := ActNone; act <= ActQuickGELU; act++ {
				bits := i + int(act)
				e := epCase{
					g:       gemmCase{m: m, n: n, k: k, pad: bits % 3, transA: bits&1 != 0, transB: bits&2 != 0},
					rowBias: bits&1 == 0, colBias: bits&2 == 0, add: bits&4 == 0, act: act,
				}
				if bits%5 == 0 {
					e.add, e.inPlace = false, true
				}
				cs = append(cs, e)
			}
			i++
		}
	}
	// k = 0: C is the epilogue of zero, or of old C when Add is C.
	cs = append(cs,
		epCase{g: gemmCase{m: 5, n: 40, k: 0, pad: 2}, rowBias: true, colBias: true, add: true, act: ActGELU},
		epCase{g: gemmCase{m: 17, n: 3, k: 0, pad: 1}, colBias: true, inPlace: true, act: ActReLU})
	return cs
}

func TestSgemmEpilogueAgainstReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, e := range epCases() {
		seed := rng.Uint64()
		var goOut []float32
		for _, kern := range append([]*microKernel{goKernel}, asmKernels()...) {
			t.Run(kern.name+"/"+e.String(), func(t *testing.T) {
				// The same operands for every kernel.
				c := runEpilogue(t, kern, e, rand.New(rand.NewPCG(seed, 1)))
				if kern == goKernel {
					goOut = c
					return
				}
				for i, v := range c {
					if d := math.Abs(float64(v - goOut[i])); d > 1e-4*(1+math.Abs(float64(v))) && !(math.IsNaN(float64(v)) && math.IsNaN(float64(goOut[i]))) {
						t.Fatalf("C[%d] = %g, Go twin %g", i, v, goOut[i])
					}
				}
			})
		}
	}
}

// TestSgemmEpilogueThreads runs products big enough to fork: few row bands,
// shared out as slabs of columns, and many bands. The epilogue must apply
// to every element exactly once.
func TestSgemmEpilogueThreads(t *testing.T) {
	defer SetThreads(0)
	rng := rand.New(rand.NewPCG(9, 10))
	for _, s := range []struct{ m, n, k int }{{20, 700, 320}, {130, 1000, 33}, {500, 70, 128}, {30, 9000, 16}} {
		if 2*s.m*s.n*s.k < minParallelFlops {
			t.Fatalf("%v is too small to fork", s)
		}
		for _, inPlace := range []bool{false, true} {
			e := epCase{g: gemmCase{m: s.m, n: s.n, k: s.k, pad: 1, transB: true}, rowBias: true, colBias: true, add: !inPlace, inPlace: inPlace}
			for _, th := range []int{2, 3} {
				SetThreads(th)
				seed := rng.Uint64()
				for _, kern := range kernels() {
					t.Run(fmt.Sprintf("%s/t%d/%v", kern.name, th, e), func(t *testing.T) {
						runEpilogue(t, kern, e, rand.New(rand.NewPCG(seed, 2)))
					})
				}
			}
		}
	}
}

// TestSgemmEpilogueMatchesVectorKernels checks that the fused activations
// give exactly what Gelu and QuickGelu give on the biased product, and,
// through k = 0 and the bias, on tails and special values.
func TestSgemmEpilogueMatchesVectorKernels(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	special := []float32{0, float32(math.Copysign(0, -1)), 1e-3, -1e-3, 0.5, -0.5, 3, -3, 9, -9, 20, -20, 60, -60, 1e5, -1e5,
		float32(math.NaN()), float32(math.Inf(1))}
	cases := []struct {
		name    string
		m, n, k int
	}{{"product", 29, 45, 70}, {"special", 3, len(special), 0}}
	for _, cs := range cases {
		a, b := make([]float32, cs.m*max(cs.k, 1)), make([]float32, max(cs.k, 1)*cs.n)
		for i := range a {
			a[i] = float32(rng.NormFloat64())
		}
		for i := range b {
			b[i] = float32(rng.NormFloat64())
		}
		bias := make([]float32, cs.n)
		for i := range bias {
			bias[i] = float32(rng.NormFloat64())
		}
		if cs.k == 0 {
			copy(bias, special)
		}
		lda := max(cs.k, 1)
		for _, tt := range []struct {
			act Act
			f   func(dst, x []float32)
		}{{ActGELU, Gelu}, {ActQuickGELU, QuickGelu}, {ActReLU, func(dst, x []float32) { copy(dst, x); reluRow(dst) }}} {
			want := make([]float32, cs.m*cs.n)
			SgemmEpilogue(false, false, cs.m, cs.n, cs.k, a, lda, b, cs.n, want, cs.n, &Epilogue{ColBias: bias})
			tt.f(want, want)
			got := make([]float32, cs.m*cs.n)
			SgemmEpilogue(false, false, cs.m, cs.n, cs.k, a, lda, b, cs.n, got, cs.n, &Epilogue{ColBias: bias, Act: tt.act})
			for i := range got {
				g, w := got[i], want[i]
				if math.Float32bits(g) != math.Float32bits(w) && !(g != g && w != w) {
					t.Fatalf("%s act %d: C[%d] = %g, separate pass %g", cs.name, tt.act, i, got[i], want[i])
				}
			}
		}
	}
}

func TestSgemmEpiloguePanicsOnBadArguments(t *testing.T) {
	buf := make([]float32, 40)
	call := func(ep *Epilogue) func() {
		return func() { SgemmEpilogue(false, false, 2, 3, 2, buf, 2, buf, 3, buf[20:], 3, ep) }
	}
	tests := []struct {
		name string
		call func()
		msg  string
	}{
		{"short RowBias", call(&Epilogue{RowBias: buf[:1]}), "len(RowBias)=1"},
		{"short ColBias", call(&Epilogue{ColBias: buf[:2]}), "len(ColBias)=2"},
		{"short Add", call(&Epilogue{Add: buf[:4], LdAdd: 3}), "len(Add)=4"},
		{"Add stride", call(&Epilogue{Add: buf[:10], LdAdd: 2}), "ldAdd=2"},
		{"Add overlaps C", call(&Epilogue{Add: buf[21:], LdAdd: 3}), "overlaps"},
		{"Add is C with another stride", call(&Epilogue{Add: buf[20:], LdAdd: 4}), "LdAdd=4"},
		{"activation", call(&Epilogue{Act: 9}), "unknown activation"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				r := recover()
				if s, _ := r.(string); !strings.Contains(s, tt.msg) {
					t.Fatalf("panic %v, want message containing %q", r, tt.msg)
				}
			}()
			tt.call()
		})
	}
}

func TestOverlap(t *testing.T) {
	buf := make([]float32, 100)
	tests := []struct {
		name     string
		m, n     int
		x, y     int // offsets into buf
		ldx, ldy int
		want     bool
		note     string
	}{
		{"disjoint", 2, 3, 0, 50, 10, 10, false, ""},
		{"side by side", 4, 5, 0, 5, 10, 10, false, "two halves of a wider matrix"},
		{"one shared element", 4, 5, 0, 34, 10, 10, true, "x[3][4]"},
		{"shifted one row", 4, 5, 0, 10, 10, 10, true, ""},
		{"before", 4, 5, 20, 14, 10, 10, true, "y[1][0] is x[0][4]"},
		{"before, clear", 4, 5, 20, 15, 10, 10, false, ""},
		{"other strides", 3, 3, 0, 5, 10, 7, true, "spans meet"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := overlap(tt.m, tt.n, buf[tt.x:], tt.ldx, buf[tt.y:], tt.ldy); got != tt.want {
				t.Fatalf("overlap = %t, want %t %s", got, tt.want, tt.note)
			}
		})
	}
}
