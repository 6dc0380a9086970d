package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// gemmCase is one Sgemm problem: sizes, stride padding and scalars.
type gemmCase struct {
	m, n, k        int
	pad            int // extra elements per stored row of A, B and C
	alpha, beta    float32
	transA, transB bool
}

func (g gemmCase) String() string {
	return fmt.Sprintf("m%d_n%d_k%d_pad%d_a%g_b%g_tA%t_tB%t", g.m, g.n, g.k, g.pad, g.alpha, g.beta, g.transA, g.transB)
}

// operands returns A, B and C for g, each starting one element into its
// backing array so that no kernel can rely on alignment.
func (g gemmCase) operands(rng *rand.Rand) (a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	ar, ac := g.m, g.k
	if g.transA {
		ar, ac = ac, ar
	}
	br, bc := g.k, g.n
	if g.transB {
		br, bc = bc, br
	}
	lda, ldb, ldc = ac+g.pad, bc+g.pad, g.n+g.pad
	fill := func(n int) []float32 {
		s := make([]float32, n+1)
		for i := range s {
			s[i] = float32(rng.NormFloat64())
		}
		return s[1:]
	}
	return fill(ar * lda), lda, fill(br * ldb), ldb, fill(g.m * ldc), ldc
}

// refGemm computes alpha·op(A)·op(B) + beta·C in float64, plus for each
// element the magnitude |alpha|·Σ|a·b| + |beta·c| that bounds float32
// rounding error.
func refGemm(g gemmCase, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) (want, mag []float64) {
	want = make([]float64, g.m*g.n)
	mag = make([]float64, g.m*g.n)
	at := func(i, p int) float64 {
		if g.transA {
			return float64(a[p*lda+i])
		}
		return float64(a[i*lda+p])
	}
	bt := func(p, j int) float64 {
		if g.transB {
			return float64(b[j*ldb+p])
		}
		return float64(b[p*ldb+j])
	}
	for i := 0; i < g.m; i++ {
		for j := 0; j < g.n; j++ {
			var s, sa float64
			for p := 0; p < g.k; p++ {
				v := at(i, p) * bt(p, j)
				s += v
				sa += math.Abs(v)
			}
			s *= float64(g.alpha)
			sa *= math.Abs(float64(g.alpha))
			if g.beta != 0 {
				cv := float64(g.beta) * float64(c[i*ldc+j])
				s += cv
				sa += math.Abs(cv)
			}
			want[i*g.n+j] = s
			mag[i*g.n+j] = sa
		}
	}
	return want, mag
}

// kernels returns every micro-kernel this machine can run.

func gemmCases() []gemmCase {
	shapes := []struct{ m, n, k int }{
		{1, 1, 1}, {7, 17, 63}, {17, 7, 1}, {1, 63, 7}, {63, 197, 17},
		{197, 257, 70}, {257, 63, 300}, {1030, 5, 20}, {5, 1030, 20},
		{3, 4200, 3}, {197, 576, 192}, {50, 197, 64}, {14, 32, 9}, {28, 64, 513},
	}
	scalars := []struct{ alpha, beta float32 }{{1, 0}, {0.5, 1}, {-1.5, 0.25}}
	var cs []gemmCase
	for i, s := range shapes {
		for t := 0; t < 4; t++ {
			sc := scalars[(i+t)%len(scalars)]
			cs = append(cs, gemmCase{
				m: s.m, n: s.n, k: s.k, pad: (i + t) % 3 * 3,
				alpha: sc.alpha, beta: sc.beta,
				transA: t&1 != 0, transB: t&2 != 0,
			})
		}
	}
	return cs
}

// tolGemm bounds the float32 error relative to the magnitude of the terms.
const tolGemm = 1e-5

func TestSgemmAgainstReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, g := range gemmCases() {
		a, lda, b, ldb, c0, ldc := g.operands(rng)
		want, mag := refGemm(g, a, lda, b, ldb, c0, ldc)
		var goOut []float32
		for _, kern := range append([]*microKernel{goKernel}, asmKernels()...) {
			t.Run(kern.name+"/"+g.String(), func(t *testing.T) {
				c := append([]float32(nil), c0...)
				if kern == goKernel {
					sgemmGo(g.transA, g.transB, g.m, g.n, g.k, g.alpha, a, lda, b, ldb, g.beta, c, ldc)
				} else {
					sgemm(kern, g.transA, g.transB, g.m, g.n, g.k, g.alpha, a, lda, b, ldb, g.beta, c, ldc)
				}
				checkGemm(t, g, c, ldc, c0, want, mag)
				if kern == goKernel {
					goOut = c
					return
				}
				// The twins differ only in summation order.
				for i := 0; i < g.m; i++ {
					for j := 0; j < g.n; j++ {
						x, y := c[i*ldc+j], goOut[i*ldc+j]
						if d := math.Abs(float64(x - y)); d > 2*tolGemm*mag[i*g.n+j]+1e-30 {
							t.Fatalf("C[%d][%d] = %g, Go twin %g", i, j, x, y)
						}
					}
				}
			})
		}
	}
}

// checkGemm compares C with the reference and checks that the padding
// between rows was left alone.
func checkGemm(t *testing.T, g gemmCase, c []float32, ldc int, c0 []float32, want, mag []float64) {
	t.Helper()
	for i := 0; i < g.m; i++ {
		for j := 0; j < ldc; j++ {
			got := float64(c[i*ldc+j])
			if j >= g.n {
				if c[i*ldc+j] != c0[i*ldc+j] {
					t.Fatalf("padding C[%d][%d] changed", i, j)
				}
				continue
			}
			w, tol := want[i*g.n+j], tolGemm*mag[i*g.n+j]+1e-30
			if !(math.Abs(got-w) <= tol) {
				t.Fatalf("C[%d][%d] = %g, want %g ± %g", i, j, got, w, tol)
			}
		}
	}
}

func TestSgemmBetaZeroIgnoresNaN(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, kern := range kernels() {
		for _, s := range []struct{ m, n, k int }{{29, 67, 33}, {1, 1, 5}} {
			g := gemmCase{m: s.m, n: s.n, k: s.k, alpha: 2}
			a, lda, b, ldb, c, ldc := g.operands(rng)
			want, mag := refGemm(g, a, lda, b, ldb, c, ldc)
			for i := range c {
				c[i] = float32(math.NaN())
			}
			sgemm(kern, false, false, g.m, g.n, g.k, g.alpha, a, lda, b, ldb, 0, c, ldc)
			for i, v := range c {
				if d := math.Abs(float64(v) - want[i]); !(d <= tolGemm*mag[i]) {
					t.Fatalf("%s %v: C[%d] = %g, want %g", kern.name, s, i, v, want[i])
				}
			}
		}
	}
}

func TestSgemmDegenerate(t *testing.T) {
	tests := []struct {
		name        string
		k           int
		alpha, beta float32
		want        float32
	}{
		{"k0 beta0 clears NaN", 0, 1, 0, 0},
		{"k0 scales", 0, 1, 3, 6},
		{"alpha0 scales", 4, 0, 0.5, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := []float32{2, 2, 2, 2, 2, 2}
			if tt.beta == 0 {
				for i := range c {
					c[i] = float32(math.NaN())
				}
			}
			a := make([]float32, 2*max(tt.k, 1))
			b := make([]float32, 3*max(tt.k, 1))
			Sgemm(false, false, 2, 3, tt.k, tt.alpha, a, max(tt.k, 1), b, 3, tt.beta, c, 3)
			for i, v := range c {
				if v != tt.want {
					t.Fatalf("C[%d] = %g, want %g", i, v, tt.want)
				}
			}
		})
	}
}

// TestSgemmThreads runs a problem big enough to fork with several thread
// counts, splitting M and N.
func TestSgemmThreads(t *testing.T) {
	defer SetThreads(0)
	rng := rand.New(rand.NewPCG(5, 6))
	for _, s := range []struct{ m, n, k int }{{197, 230, 96}, {60, 700, 128}, {500, 70, 128}} {
		if 2*s.m*s.n*s.k < minParallelFlops {
			t.Fatalf("%v is too small to fork", s)
		}
		g := gemmCase{m: s.m, n: s.n, k: s.k, pad: 1, alpha: 1, beta: 0.5, transB: true}
		a, lda, b, ldb, c0, ldc := g.operands(rng)
		want, mag := refGemm(g, a, lda, b, ldb, c0, ldc)
		for _, n := range []int{1, 2, 3, 8} {
			SetThreads(n)
			if Threads() != n {
				t.Fatalf("Threads() = %d after SetThreads(%d)", Threads(), n)
			}
			c := append([]float32(nil), c0...)
			Sgemm(g.transA, g.transB, g.m, g.n, g.k, g.alpha, a, lda, b, ldb, g.beta, c, ldc)
			checkGemm(t, g, c, ldc, c0, want, mag)
		}
	}
}

func TestSgemmPanicsOnBadArguments(t *testing.T) {
	buf := make([]float32, 12)
	tests := []struct {
		name string
		call func()
		msg  string
	}{
		{"short lda", func() { Sgemm(false, false, 2, 2, 3, 1, buf, 2, buf, 2, 0, buf, 2) }, "ldA=2"},
		{"short A", func() { Sgemm(false, false, 5, 2, 3, 1, buf, 3, buf, 2, 0, buf, 2) }, "len(A)=12"},
		{"short B transposed", func() { Sgemm(false, true, 2, 5, 3, 1, buf, 3, buf, 3, 0, buf, 5) }, "len(B)=12"},
		{"short ldc", func() { Sgemm(false, false, 2, 2, 2, 1, buf, 2, buf, 2, 0, buf, 1) }, "ldC=1"},
		{"negative", func() { Sgemm(false, false, -1, 2, 2, 1, buf, 2, buf, 2, 0, buf, 2) }, "negative"},
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

// TestSgemmRandomShapes sweeps small random shapes across the tile edges
// of every kernel.
func TestSgemmRandomShapes(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	for i := 0; i < 150; i++ {
		g := gemmCase{
			m: 1 + rng.IntN(45), n: 1 + rng.IntN(70), k: 1 + rng.IntN(40), pad: rng.IntN(4),
			alpha: float32(rng.NormFloat64()), beta: []float32{0, 1, 0.5}[rng.IntN(3)],
			transA: rng.IntN(2) == 1, transB: rng.IntN(2) == 1,
		}
		a, lda, b, ldb, c0, ldc := g.operands(rng)
		want, mag := refGemm(g, a, lda, b, ldb, c0, ldc)
		for _, kern := range kernels() {
			c := append([]float32(nil), c0...)
			sgemm(kern, g.transA, g.transB, g.m, g.n, g.k, g.alpha, a, lda, b, ldb, g.beta, c, ldc)
			t.Run(kern.name+"/"+g.String(), func(t *testing.T) { checkGemm(t, g, c, ldc, c0, want, mag) })
		}
	}
}

// TestSgemmConcurrentCallers checks that calls from several goroutines at
// once, as a backend running heads in parallel makes, do not share state.
func TestSgemmConcurrentCallers(t *testing.T) {
	rng := rand.New(rand.NewPCG(25, 26))
	type job struct {
		g             gemmCase
		a, b, c, c0   []float32
		lda, ldb, ldc int
		want, mag     []float64
	}
	jobs := make([]*job, 6)
	for i := range jobs {
		g := gemmCase{m: 150 + 7*i, n: 90 + 5*i, k: 120, pad: i % 3, alpha: 1, beta: 0.5, transB: i%2 == 0}
		j := &job{g: g}
		j.a, j.lda, j.b, j.ldb, j.c0, j.ldc = g.operands(rng)
		j.c = append([]float32(nil), j.c0...)
		j.want, j.mag = refGemm(g, j.a, j.lda, j.b, j.ldb, j.c0, j.ldc)
		jobs[i] = j
	}
	done := make(chan struct{})
	for _, j := range jobs {
		go func() {
			defer func() { done <- struct{}{} }()
			g := j.g
			Sgemm(g.transA, g.transB, g.m, g.n, g.k, g.alpha, j.a, j.lda, j.b, j.ldb, g.beta, j.c, j.ldc)
		}()
	}
	for range jobs {
		<-done
	}
	for _, j := range jobs {
		checkGemm(t, j.g, j.c, j.ldc, j.c0, j.want, j.mag)
	}
}

// TestSgemmSubnormals checks that subnormal inputs neither break results
// nor leave the flush-to-zero mode of the kernels switched on afterwards.
func TestSgemmSubnormals(t *testing.T) {
	const tiny = 1e-40 // subnormal in float32
	for _, kern := range kernels() {
		m, n, k := 30, 40, 20
		a := make([]float32, m*k)
		b := make([]float32, k*n)
		for i := range a {
			a[i] = tiny
		}
		for i := range b {
			b[i] = 1
		}
		a[0] = 1 // one normal term: C[0][j] = 1 + 19·tiny
		c := make([]float32, m*n)
		sgemm(kern, false, false, m, n, k, 1, a, k, b, n, 0, c, n)
		for i := 0; i < m; i++ {
			for j := 0; j < n; j++ {
				want := float32(0)
				if i == 0 {
					want = 1
				}
				// Flushed or kept, a subnormal sum is below 20·tiny.
				if d := math.Abs(float64(c[i*n+j] - want)); d > 20*tiny {
					t.Fatalf("%s: C[%d][%d] = %g, want %g", kern.name, i, j, c[i*n+j], want)
				}
			}
		}
		// Go code after the call must still see gradual underflow.
		if y := a[1] * 0.5 * b[1]; y == 0 {
			t.Fatalf("%s: subnormal product flushed to zero after Sgemm", kern.name)
		}
	}
}

// TestSgemmInPlaceA runs the reference table with A read in place for every
// width of B, where the kernel can; the other tests cover the default.
func TestSgemmInPlaceA(t *testing.T) {
	for _, kern := range asmKernels() {
		defer func(v int) { kern.inPlaceMaxN = v }(kern.inPlaceMaxN)
		kern.inPlaceMaxN = 1 << 30
	}
	rng := rand.New(rand.NewPCG(27, 28))
	for _, g := range gemmCases() {
		if g.transA {
			continue // packed regardless
		}
		a, lda, b, ldb, c0, ldc := g.operands(rng)
		want, mag := refGemm(g, a, lda, b, ldb, c0, ldc)
		for _, kern := range asmKernels() {
			t.Run(kern.name+"/"+g.String(), func(t *testing.T) {
				c := append([]float32(nil), c0...)
				sgemm(kern, g.transA, g.transB, g.m, g.n, g.k, g.alpha, a, lda, b, ldb, g.beta, c, ldc)
				checkGemm(t, g, c, ldc, c0, want, mag)
			})
		}
	}
}

func TestBandStarts(t *testing.T) {
	tests := []struct {
		m, mc, mr, t int
		want         []int
	}{
		{1232, 112, 14, 1, []int{0, 112, 224, 336, 448, 560, 672, 784, 896, 1008, 1120, 1232}},
		// 11 bands of at most 8 panels raised to 12 for 2 goroutines: 7 or 8 panels each.
		{1232, 112, 14, 2, []int{0, 98, 196, 308, 406, 504, 616, 714, 812, 924, 1022, 1120, 1232}},
		{250, 112, 14, 2, []int{0, 56, 126, 182, 250}},
		{250, 112, 14, 3, []int{0, 84, 168, 250}},
		{224, 112, 14, 2, []int{0, 112, 224}},
		{100, 112, 14, 2, []int{0, 56, 100}},
		{10, 112, 14, 2, []int{0, 10}},
		{0, 112, 14, 2, []int{0}},
		{130, 64, 4, 2, []int{0, 32, 64, 96, 130}},
		{1232, 96, 6, 2, []int{0, 84, 174, 264, 348, 438, 528, 618, 702, 792, 882, 966, 1056, 1146, 1232}},
	}
	for _, tt := range tests {
		got := bandStarts(tt.m, tt.mc, tt.mr, tt.t)
		if fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("bandStarts(%d, %d, %d, %d) = %v, want %v", tt.m, tt.mc, tt.mr, tt.t, got, tt.want)
		}
	}
	// The contract on many sizes: bands start on panel boundaries, hold at most mc rows, differ by at
	// most one panel (the short last panel aside), and come in a multiple of t where there are enough
	// panels.
	for _, mr := range []int{4, 6, 14} {
		mc := 16 * mr
		for m := 1; m < 40*mr; m += 7 {
			for tt := 1; tt <= 3; tt++ {
				s := bandStarts(m, mc, mr, tt)
				bands := len(s) - 1
				panels := (m + mr - 1) / mr
				if s[0] != 0 || s[bands] != m {
					t.Fatalf("bandStarts(%d, %d, %d, %d) = %v: not [0, m]", m, mc, mr, tt, s)
				}
				if bands%tt != 0 && bands != panels {
					t.Fatalf("bandStarts(%d, %d, %d, %d): %d bands", m, mc, mr, tt, bands)
				}
				lo, hi := m, 0
				for b := 0; b < bands; b++ {
					rows := s[b+1] - s[b]
					if s[b]%mr != 0 || rows <= 0 || rows > mc {
						t.Fatalf("bandStarts(%d, %d, %d, %d) = %v: band %d", m, mc, mr, tt, s, b)
					}
					if b < bands-1 {
						lo, hi = min(lo, rows), max(hi, rows)
					}
				}
				if bands > 1 && hi-lo > mr {
					t.Fatalf("bandStarts(%d, %d, %d, %d) = %v: uneven", m, mc, mr, tt, s)
				}
			}
		}
	}
}

// TestSgemmSharedA runs the shapes with several panels of B with A packed
// for each panel; the other tests cover the default, A packed once for all.
func TestSgemmSharedA(t *testing.T) {
	defer func(v int) { maxSharedA = v }(maxSharedA)
	maxSharedA = 0
	rng := rand.New(rand.NewPCG(29, 30))
	for _, g := range gemmCases() {
		if g.n <= 512 {
			continue // one panel of B for every kernel
		}
		a, lda, b, ldb, c0, ldc := g.operands(rng)
		want, mag := refGemm(g, a, lda, b, ldb, c0, ldc)
		for _, kern := range kernels() {
			t.Run(kern.name+"/"+g.String(), func(t *testing.T) {
				c := append([]float32(nil), c0...)
				sgemm(kern, g.transA, g.transB, g.m, g.n, g.k, g.alpha, a, lda, b, ldb, g.beta, c, ldc)
				checkGemm(t, g, c, ldc, c0, want, mag)
			})
		}
	}
}
