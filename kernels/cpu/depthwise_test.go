package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// dwImpls are the dispatched kernel and its Go twin.
var dwImpls = []struct {
	name string
	fn   func(dst, src []float32, ld int, w, bias []float32, c, kh, kw, wo, stride int)
}{
	{"dispatch", DepthwiseRow},
	{"go", depthwiseRowGo},
}

// depthwiseRef is DepthwiseRow in float64, with the magnitude sum Σ|w·x| bounding the rounding error.
func depthwiseRef(src []float32, ld int, w, bias []float32, c, kh, kw, wo, stride int) (want, mag []float64) {
	want, mag = make([]float64, wo*c), make([]float64, wo*c)
	for ox := 0; ox < wo; ox++ {
		for ch := 0; ch < c; ch++ {
			var s, m float64
			if bias != nil {
				s, m = float64(bias[ch]), math.Abs(float64(bias[ch]))
			}
			for ky := 0; ky < kh; ky++ {
				for kx := 0; kx < kw; kx++ {
					p := float64(w[(ky*kw+kx)*c+ch]) * float64(src[ky*ld+(ox*stride+kx)*c+ch])
					s += p
					m += math.Abs(p)
				}
			}
			want[ox*c+ch], mag[ox*c+ch] = s, m
		}
	}
	return want, mag
}

func TestDepthwiseRow(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	type geom struct{ c, kh, kw, wo, stride int }
	var cases []geom
	for _, c := range []int{1, 3, 16, 17, 33, 128} {
		for kw := 1; kw <= 7; kw++ {
			for _, wo := range []int{1, 3, 4, 5, 7, 8, 9, 13, 16, 17} {
				cases = append(cases, geom{c, 1 + (kw+wo)%7, kw, wo, 1 + (c+wo)%2})
			}
		}
	}
	cases = append(cases, geom{128, 7, 7, 56, 1}, geom{512, 7, 7, 14, 1}, geom{24, 3, 3, 11, 2})
	for _, g := range cases {
		// Rows are a few pixels wider than they need to be, so ld is not the row's width.
		width := (g.wo-1)*g.stride + g.kw + 2
		ld := width*g.c + 5
		src := randVec(rng, (g.kh-1)*ld+((g.wo-1)*g.stride+g.kw)*g.c, 1)
		w := randVec(rng, g.kh*g.kw*g.c, 1)
		for _, bias := range [][]float32{nil, randVec(rng, g.c, 1)} {
			want, mag := depthwiseRef(src, ld, w, bias, g.c, g.kh, g.kw, g.wo, g.stride)
			for _, im := range dwImpls {
				// dst holds garbage and a canary past its end: the kernel must overwrite, and stay inside.
				dst := randVec(rng, g.wo*g.c+1, 100)
				dst[g.wo*g.c] = 12345
				im.fn(dst[:g.wo*g.c], src, ld, w, bias, g.c, g.kh, g.kw, g.wo, g.stride)
				name := fmt.Sprintf("%s c=%d k=%dx%d wo=%d stride=%d bias=%t", im.name, g.c, g.kh, g.kw, g.wo, g.stride, bias != nil)
				if dst[g.wo*g.c] != 12345 {
					t.Errorf("%s: wrote past dst", name)
				}
				for i, v := range dst[:g.wo*g.c] {
					if !(math.Abs(float64(v)-want[i]) <= 1e-6*mag[i]+1e-30) {
						t.Errorf("%s: dst[%d] = %g, want %g", name, i, v, want[i])
						break
					}
				}
			}
		}
	}
}

func TestDepthwiseRowPanics(t *testing.T) {
	ok := func() (dst, src, w, bias []float32) {
		return make([]float32, 4*3), make([]float32, 20+6*3), make([]float32, 2*3*3), make([]float32, 3)
	}
	tests := []struct {
		name string
		call func()
	}{
		{"short src", func() { d, s, w, b := ok(); DepthwiseRow(d, s[1:], 20, w, b, 3, 2, 3, 4, 1) }},
		{"short dst", func() { d, s, w, b := ok(); DepthwiseRow(d[1:], s, 20, w, b, 3, 2, 3, 4, 1) }},
		{"short w", func() { d, s, w, b := ok(); DepthwiseRow(d, s, 20, w[1:], b, 3, 2, 3, 4, 1) }},
		{"short bias", func() { d, s, w, b := ok(); DepthwiseRow(d, s, 20, w, b[1:], 3, 2, 3, 4, 1) }},
		{"zero stride", func() { d, s, w, b := ok(); DepthwiseRow(d, s, 20, w, b, 3, 2, 3, 4, 0) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			tc.call()
		})
	}
	// The geometry the panics are measured against is itself valid.
	d, s, w, b := ok()
	DepthwiseRow(d, s, 20, w, b, 3, 2, 3, 4, 1)
}

// BenchmarkDepthwiseRow runs the 7×7 rows of ConvNeXt-B's first stage (56 pixels of 128 channels).
func BenchmarkDepthwiseRow(b *testing.B) {
	const c, k, wo = 128, 7, 56
	ld := (wo + k - 1) * c
	rng := rand.New(rand.NewPCG(1, 2))
	src, w, bias := randVec(rng, k*ld, 1), randVec(rng, k*k*c, 1), randVec(rng, c, 1)
	dst := make([]float32, wo*c)
	for _, im := range dwImpls {
		b.Run(im.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				im.fn(dst, src, ld, w, bias, c, k, k, wo, 1)
			}
			b.ReportMetric(float64(2*k*k*c*wo*b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
