package imaging

import (
	"math/rand"
	"testing"
)

// TestResizeKernelsAgree runs the SIMD kernels and the Go loops on the same
// random images and sizes (up- and downscaling, odd widths, last-row
// over-read guard) and requires identical bytes.
func TestResizeKernelsAgree(t *testing.T) {
	if !hasResizeAVX512 {
		t.Skip("no AVX-512 on this machine: only the Go loops run")
	}
	rng := rand.New(rand.NewSource(1))
	sizes := [][2]int{{1, 1}, {5, 3}, {17, 40}, {64, 64}, {97, 31}, {500, 375}, {7, 300}}
	for _, in := range sizes {
		src := NewRGB(in[0], in[1])
		rng.Read(src.Pix)
		for _, f := range []Interpolation{Bicubic, Bilinear} {
			for _, out := range [][2]int{{1, 1}, {3, 9}, {16, 16}, {33, 17}, {224, 224}, {298, 224}, {in[0] * 2, in[1]}, {in[0], in[1]/2 + 1}} {
				hasResizeAVX512 = true
				a, err := Resize(src, out[0], out[1], f)
				hasResizeAVX512 = false
				b, err2 := Resize(src, out[0], out[1], f)
				hasResizeAVX512 = true
				if err != nil || err2 != nil {
					t.Fatal(err, err2)
				}
				for i := range a.Pix {
					if a.Pix[i] != b.Pix[i] {
						t.Fatalf("%v %v -> %v: byte %d: SIMD %d, Go %d", f, in, out, i, a.Pix[i], b.Pix[i])
					}
				}
			}
		}
	}
}

// TestResizeExtremeDownscale: a 100000-pixel-wide strip to 224 (kernel
// windows of ~900 taps) agrees between SIMD and Go and stays in range.
func TestResizeExtremeDownscale(t *testing.T) {
	src := NewRGB(100000, 2)
	rand.New(rand.NewSource(2)).Read(src.Pix)
	old := hasResizeAVX512
	defer func() { hasResizeAVX512 = old }()
	a, err := Resize(src, 224, 224, Bicubic)
	if err != nil {
		t.Fatal(err)
	}
	hasResizeAVX512 = false
	b, err := Resize(src, 224, 224, Bicubic)
	if err != nil {
		t.Fatal(err)
	}
	for i := range a.Pix {
		if a.Pix[i] != b.Pix[i] {
			t.Fatalf("byte %d: SIMD %d, Go %d", i, a.Pix[i], b.Pix[i])
		}
		// Averaging ~450 uniform random bytes lands near 127.5.
		if a.Pix[i] < 100 || a.Pix[i] > 155 {
			t.Fatalf("byte %d = %d, far from the mean of random data", i, a.Pix[i])
		}
	}
}

// BenchmarkResizeGoLoops is BenchmarkResize500x375To224 without SIMD.
func BenchmarkResizeGoLoops(b *testing.B) {
	old := hasResizeAVX512
	hasResizeAVX512 = false
	defer func() { hasResizeAVX512 = old }()
	BenchmarkResize500x375To224(b)
}
