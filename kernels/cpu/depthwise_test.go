package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

type dwImpl struct {
	name string
	fn   func(dst, src []float32, ld, ps int, w, bias []float32, c, kh, kw, wo, stride int)
}

// dwImpls are the dispatched kernel and the kernel of every set the CPU runs.
var dwImpls = func() []dwImpl {
	ims := []dwImpl{{"dispatch", DepthwiseRow}}
	for _, s := range supportedSets() {
		ims = append(ims, dwImpl{s.name, s.depthwiseRow})
	}
	return ims
}()

// depthwiseRef is DepthwiseRow in float64, with the magnitude sum Σ|w·x| bounding the rounding error.
func depthwiseRef(src []float32, ld, ps int, w, bias []float32, c, kh, kw, wo, stride int) (want, mag []float64) {
	want, mag = make([]float64, wo*c), make([]float64, wo*c)
	for ox := 0; ox < wo; ox++ {
		for ch := 0; ch < c; ch++ {
			var s, m float64
			if bias != nil {
				s, m = float64(bias[ch]), math.Abs(float64(bias[ch]))
			}
			for ky := 0; ky < kh; ky++ {
				for kx := 0; kx < kw; kx++ {
					p := float64(w[(ky*kw+kx)*ps+ch]) * float64(src[ky*ld+(ox*stride+kx)*ps+ch])
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
	type geom struct{ c, ps, kh, kw, wo, stride int }
	var cases []geom
	for i, c := range []int{1, 3, 16, 17, 33, 128} {
		// Pixel strides: packed, a few floats of gap, and PixelStride.
		strides := []int{c, c + 3, PixelStride(c)}
		for kw := 1; kw <= 7; kw++ {
			for j, wo := range []int{1, 3, 4, 5, 7, 8, 9, 13, 16, 17} {
				cases = append(cases, geom{c, strides[(i+j+kw)%3], 1 + (kw+wo)%7, kw, wo, 1 + (c+wo)%2})
			}
		}
	}
	cases = append(cases, geom{128, 144, 7, 7, 56, 1}, geom{512, 512, 7, 7, 14, 1}, geom{24, 24, 3, 3, 11, 2})
	for _, g := range cases {
		// Rows are a few pixels wider than they need to be, so ld is not the row's width.
		width := (g.wo-1)*g.stride + g.kw + 2
		ld := width*g.ps + 5
		src := randVec(rng, (g.kh-1)*ld+((g.wo-1)*g.stride+g.kw-1)*g.ps+g.c, 1)
		w := randVec(rng, (g.kh*g.kw-1)*g.ps+g.c, 1)
		for _, bias := range [][]float32{nil, randVec(rng, g.c, 1)} {
			want, mag := depthwiseRef(src, ld, g.ps, w, bias, g.c, g.kh, g.kw, g.wo, g.stride)
			for _, im := range dwImpls {
				// dst holds garbage and a canary past its end: the kernel must overwrite, and stay inside.
				dst := randVec(rng, g.wo*g.c+1, 100)
				dst[g.wo*g.c] = 12345
				im.fn(dst[:g.wo*g.c], src, ld, g.ps, w, bias, g.c, g.kh, g.kw, g.wo, g.stride)
				name := fmt.Sprintf("%s c=%d ps=%d k=%dx%d wo=%d stride=%d bias=%t", im.name, g.c, g.ps, g.kh, g.kw, g.wo, g.stride, bias != nil)
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

func TestPixelStride(t *testing.T) {
	for _, tc := range []struct{ c, want int }{{1, 16}, {16, 16}, {17, 48}, {33, 48}, {128, 144}, {512, 528}, {96, 112}} {
		if got := PixelStride(tc.c); got != tc.want {
			t.Errorf("PixelStride(%d) = %d, want %d", tc.c, got, tc.want)
		}
	}
}

func TestDepthwiseRowPanics(t *testing.T) {
	// A valid call: 3 channels 5 floats apart, a 2×3 kernel, 4 output pixels, rows 30 floats apart.
	ok := func() (dst, src, w, bias []float32) {
		return make([]float32, 4*3), make([]float32, 30+5*5+3), make([]float32, 5*5+3), make([]float32, 3)
	}
	tests := []struct {
		name string
		call func()
	}{
		{"short src", func() { d, s, w, b := ok(); DepthwiseRow(d, s[1:], 30, 5, w, b, 3, 2, 3, 4, 1) }},
		{"short dst", func() { d, s, w, b := ok(); DepthwiseRow(d[1:], s, 30, 5, w, b, 3, 2, 3, 4, 1) }},
		{"short w", func() { d, s, w, b := ok(); DepthwiseRow(d, s, 30, 5, w[1:], b, 3, 2, 3, 4, 1) }},
		{"short bias", func() { d, s, w, b := ok(); DepthwiseRow(d, s, 30, 5, w, b[1:], 3, 2, 3, 4, 1) }},
		{"pixel stride below c", func() { d, s, w, b := ok(); DepthwiseRow(d, s, 30, 2, w, b, 3, 2, 3, 4, 1) }},
		{"zero stride", func() { d, s, w, b := ok(); DepthwiseRow(d, s, 30, 5, w, b, 3, 2, 3, 4, 0) }},
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
	DepthwiseRow(d, s, 30, 5, w, b, 3, 2, 3, 4, 1)
}

// BenchmarkDepthwiseRow runs the 7×7 rows of ConvNeXt-B's first stage (56 pixels of 128 channels), with
// the channels packed and at PixelStride.
func BenchmarkDepthwiseRow(b *testing.B) {
	const c, k, wo = 128, 7, 56
	rng := rand.New(rand.NewPCG(1, 2))
	for _, ps := range []int{c, PixelStride(c)} {
		ld := (wo + k - 1) * ps
		src, w, bias := randVec(rng, k*ld, 1), randVec(rng, k*k*ps, 1), randVec(rng, c, 1)
		dst := make([]float32, wo*c)
		for _, im := range dwImpls {
			b.Run(fmt.Sprintf("%s/ps=%d", im.name, ps), func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					im.fn(dst, src, ld, ps, w, bias, c, k, k, wo, 1)
				}
				b.ReportMetric(float64(2*k*k*c*wo*b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}
