package cpu

import "fmt"

// DepthwiseRow computes one output row of a channels-last depthwise convolution over c channels:
//
//	dst[ox·c+ch] = bias[ch] + Σ_{ky<kh, kx<kw} w[(ky·kw+kx)·ps+ch] · src[ky·ld + (ox·stride+kx)·ps + ch]
//
// for ox < wo and ch < c. src holds the kh input rows the row reads, ld floats apart, each already padded
// (the kernel reads no bounds of its own), with its pixels ps ≥ c floats apart; w is the kernel
// transposed to [kh, kw, ps]; bias may be nil (zero). dst is overwritten, not accumulated into.
//
// The kernel sweeps each 16-channel block across the row, reading one 64-byte line per pixel; with ps an
// odd number of lines (PixelStride) those lines spread over every L1 cache set, where a power-of-two
// channel count would crowd them into a few.
func DepthwiseRow(dst, src []float32, ld, ps int, w, bias []float32, c, kh, kw, wo, stride int) {
	if c < 1 || ps < c || kh < 1 || kw < 1 || wo < 1 || stride < 1 || ld < 0 {
		panic(fmt.Sprintf("cpu: DepthwiseRow: c %d, ps %d, kernel %dx%d, wo %d, stride %d, ld %d", c, ps, kh, kw, wo, stride, ld))
	}
	if n := (kh-1)*ld + ((wo-1)*stride+kw-1)*ps + c; len(src) < n {
		panic(fmt.Sprintf("cpu: DepthwiseRow: src has %d values, want %d", len(src), n))
	}
	if len(dst) < wo*c {
		panic(fmt.Sprintf("cpu: DepthwiseRow: dst has %d values, want %d", len(dst), wo*c))
	}
	if n := (kh*kw-1)*ps + c; len(w) < n {
		panic(fmt.Sprintf("cpu: DepthwiseRow: w has %d values, want %d", len(w), n))
	}
	if bias != nil && len(bias) < c {
		panic(fmt.Sprintf("cpu: DepthwiseRow: bias has %d values, want %d", len(bias), c))
	}
	depthwiseRow(dst, src, ld, ps, w, bias, c, kh, kw, wo, stride)
}

// PixelStride is the pixel stride DepthwiseRow reads fastest for c channels: c rounded up to whole
// 64-byte lines, plus one line when that makes an even number of lines.
func PixelStride(c int) int {
	ps := (c + 15) / 16 * 16
	if ps/16%2 == 0 {
		ps += 16
	}
	return ps
}

func depthwiseRowGo(dst, src []float32, ld, ps int, w, bias []float32, c, kh, kw, wo, stride int) {
	for ox := 0; ox < wo; ox++ {
		d := dst[ox*c : ox*c+c]
		if bias != nil {
			copy(d, bias[:c])
		} else {
			clear(d)
		}
		for ky := 0; ky < kh; ky++ {
			for kx := 0; kx < kw; kx++ {
				s := src[ky*ld+(ox*stride+kx)*ps:][:c]
				wk := w[(ky*kw+kx)*ps:][:c]
				for ch, v := range s {
					d[ch] = fma32(wk[ch], v, d[ch]) // fused, as the vector kernels
				}
			}
		}
	}
}
