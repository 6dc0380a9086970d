package cpu

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// vecImpl is one implementation of the vector kernels: the dispatched
// public functions or one kernel set's.
type vecImpl struct {
	name   string
	dot    func(x, y []float32) float32
	axpy   func(alpha float32, x, y []float32)
	scale  func(alpha float32, x []float32)
	sum    func(x []float32) float32
	maxVal func(x []float32) float32
	expSub func(dst, x []float32, m float32) float32
}

var vecImpls = func() []vecImpl {
	ims := []vecImpl{{"dispatch", Dot, Axpy, Scale, Sum, MaxVal, ExpSub}}
	for _, s := range supportedSets() {
		ims = append(ims, vecImpl{s.name, s.dot, s.axpy, s.scale, s.sum, s.maxVal, s.expSub})
	}
	return ims
}()

var vecSizes = []int{0, 1, 7, 15, 16, 17, 31, 33, 63, 64, 65, 197, 257, 1000, 1031}

// randVec returns n normal values starting one element into their backing
// array, so kernels see unaligned data.
func randVec(rng *rand.Rand, n int, scale float64) []float32 {
	s := make([]float32, n+1)
	for i := range s {
		s[i] = float32(rng.NormFloat64() * scale)
	}
	return s[1:]
}

func TestDotAndSum(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, n := range vecSizes {
		x, y := randVec(rng, n, 1), randVec(rng, n, 1)
		var dot, dotMag, sum, sumMag float64
		for i := range x {
			dot += float64(x[i]) * float64(y[i])
			dotMag += math.Abs(float64(x[i]) * float64(y[i]))
			sum += float64(x[i])
			sumMag += math.Abs(float64(x[i]))
		}
		for _, im := range vecImpls {
			if got := im.dot(x, y); !(math.Abs(float64(got)-dot) <= 1e-6*dotMag) {
				t.Errorf("%s: Dot n=%d = %g, want %g", im.name, n, got, dot)
			}
			if got := im.sum(x); !(math.Abs(float64(got)-sum) <= 1e-6*sumMag) {
				t.Errorf("%s: Sum n=%d = %g, want %g", im.name, n, got, sum)
			}
		}
	}
}

func TestAxpyAndScale(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	const alpha = -0.75
	for _, n := range vecSizes {
		x, y0 := randVec(rng, n, 1), randVec(rng, n+1, 1)
		for _, im := range vecImpls {
			// y has a guard element past the end that must survive.
			y := append([]float32(nil), y0...)
			im.axpy(alpha, x, y[:n])
			for i := range x {
				want := float64(y0[i]) + alpha*float64(x[i])
				tol := 1.2e-7 * (math.Abs(float64(y0[i])) + math.Abs(alpha*float64(x[i])))
				if !(math.Abs(float64(y[i])-want) <= tol) {
					t.Fatalf("%s: Axpy n=%d y[%d] = %g, want %g", im.name, n, i, y[i], want)
				}
			}
			if y[n] != y0[n] {
				t.Fatalf("%s: Axpy n=%d wrote past the end", im.name, n)
			}
			s := append([]float32(nil), y0...)
			im.scale(alpha, s[:n])
			for i := 0; i < n; i++ {
				if want := alpha * y0[i]; s[i] != want {
					t.Fatalf("%s: Scale n=%d x[%d] = %g, want %g", im.name, n, i, s[i], want)
				}
			}
			if s[n] != y0[n] {
				t.Fatalf("%s: Scale n=%d wrote past the end", im.name, n)
			}
		}
	}
}

func TestMaxVal(t *testing.T) {
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	rng := rand.New(rand.NewPCG(11, 12))
	tests := []struct {
		name string
		x    []float32
		want float32
	}{
		{"empty", nil, -inf},
		{"one", []float32{-3}, -3},
		{"all NaN", []float32{nan, nan, nan}, -inf},
		{"NaN skipped", []float32{nan, 2, nan, 5, 1}, 5},
		{"all -Inf", []float32{-inf, -inf}, -inf},
		{"+Inf", []float32{1, inf, 2}, inf},
	}
	for _, n := range vecSizes[1:] {
		x := randVec(rng, n, 10)
		at := rng.IntN(n)
		x[at] = 1000 // larger than any draw
		tests = append(tests, struct {
			name string
			x    []float32
			want float32
		}{"random", x, 1000})
		if n > 2 {
			y := append([]float32(nil), x...)
			y[(at+1)%n] = nan
			tests = append(tests, struct {
				name string
				x    []float32
				want float32
			}{"random NaN", y, 1000})
		}
	}
	for _, tt := range tests {
		for _, im := range vecImpls {
			if got := im.maxVal(tt.x); got != tt.want {
				t.Errorf("%s: MaxVal %s n=%d = %g, want %g", im.name, tt.name, len(tt.x), got, tt.want)
			}
		}
	}
}

// ulpDiff is the distance in float32 steps between a and b, both finite or
// both the same infinity.
func ulpDiff(a, b float32) int64 {
	key := func(f float32) int64 {
		u := int64(math.Float32bits(f))
		if u&(1<<31) != 0 {
			return -(u &^ (1 << 31))
		}
		return u
	}
	d := key(a) - key(b)
	if d < 0 {
		d = -d
	}
	return d
}

func TestExpSub(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	inf := float32(math.Inf(1))
	special := []float32{0, -1e-8, 1e-8, -0.3466, 0.3466, 1, -1, 10, -10, -50, -87.3, -87.4, -88, -90, -100,
		-103.2, -103.3, -104, -105, -200, -inf, 88.7, 88.72, 88.73, 89, 100, inf}
	for _, n := range append(vecSizes, len(special)) {
		const m = 3.5
		x := randVec(rng, n, 5)
		if n == len(special) {
			for i, v := range special {
				x[i] = v + m
			}
		}
		for _, im := range vecImpls {
			dst := make([]float32, n+1)
			got := im.expSub(dst[:n], x, m)
			var want, mag float64
			for i, v := range x {
				e := float32(math.Exp(float64(v - m)))
				if d := ulpDiff(dst[i], e); d > 2 {
					t.Fatalf("%s: exp(%g) = %g, want %g (%d ulp)", im.name, v-m, dst[i], e, d)
				}
				want += float64(dst[i])
				mag += math.Abs(float64(dst[i]))
			}
			if math.IsInf(want, 1) {
				if !math.IsInf(float64(got), 1) {
					t.Fatalf("%s: ExpSub n=%d sum = %g, want +Inf", im.name, n, got)
				}
			} else if !(math.Abs(float64(got)-want) <= 1e-5*mag) {
				t.Fatalf("%s: ExpSub n=%d sum = %g, want %g", im.name, n, got, want)
			}
			if dst[n] != 0 {
				t.Fatalf("%s: ExpSub n=%d wrote past the end", im.name, n)
			}
		}
	}
}

func TestExpSubNaN(t *testing.T) {
	nan := float32(math.NaN())
	for _, im := range vecImpls {
		x := []float32{1, nan, 2}
		dst := make([]float32, 3)
		s := im.expSub(dst, x, 0)
		if !math.IsNaN(float64(dst[1])) || !math.IsNaN(float64(s)) || dst[0] != float32(math.E) {
			t.Errorf("%s: ExpSub(%v) = %v, sum %g; want NaN passed through", im.name, x, dst, s)
		}
	}
}

// TestExpSubInPlace checks dst and x may share memory, as a softmax does.
func TestExpSubInPlace(t *testing.T) {
	x := []float32{0, -1, -2, 1, 3, 0.5, -7, 2, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2}
	want := make([]float32, len(x))
	ws := expSubGo(want, x, 3)
	got := append([]float32(nil), x...)
	gs := ExpSub(got, got, 3)
	for i := range got {
		if ulpDiff(got[i], want[i]) > 2 {
			t.Fatalf("in place: dst[%d] = %g, want %g", i, got[i], want[i])
		}
	}
	if math.Abs(float64(gs-ws)) > 1e-6*float64(ws) {
		t.Fatalf("in place: sum %g, want %g", gs, ws)
	}
}

func TestVectorPanicsOnLengthMismatch(t *testing.T) {
	a, b := make([]float32, 3), make([]float32, 4)
	for name, call := range map[string]func(){
		"Dot":    func() { Dot(a, b) },
		"Axpy":   func() { Axpy(1, a, b) },
		"ExpSub": func() { ExpSub(a, b, 0) },
	} {
		func() {
			defer func() {
				if s, _ := recover().(string); !strings.Contains(s, name) || !strings.Contains(s, "differ") {
					t.Errorf("%s: panic %q, want a length mismatch", name, s)
				}
			}()
			call()
		}()
	}
}
