package cpu

import "fmt"

// DepthwiseRow computes one output row of a channels-last depthwise convolution over c channels:
//
//	dst[ox·c+ch] = bias[ch] + Σ_{ky<kh, kx<kw} w[(ky·kw+kx)·c+ch] · src[ky·ld + (ox·stride+kx)·c + ch]
//
// for ox < wo and ch < c. src holds the kh input rows the row reads, ld floats apart, each already padded
// (the kernel reads no bounds of its own); w is the kernel transposed to [kh, kw, c]; bias may be nil
// (zero). dst is overwritten, not accumulated into.
func DepthwiseRow(dst, src []float32, ld int, w, bias []float32, c, kh, kw, wo, stride int) {
	if c < 1 || kh < 1 || kw < 1 || wo < 1 || stride < 1 || ld < 0 {
		panic(fmt.Sprintf("cpu: DepthwiseRow: c %d, kernel %dx%d, wo %d, stride %d, ld %d", c, kh, kw, wo, stride, ld))
	}
	if n := (kh-1)*ld + ((wo-1)*stride+kw)*c; len(src) < n {
		panic(fmt.Sprintf("cpu: DepthwiseRow: src has %d values, want %d", len(src), n))
	}
	if len(dst) < wo*c {
		panic(fmt.Sprintf("cpu: DepthwiseRow: dst has %d values, want %d", len(dst), wo*c))
	}
	if len(w) < kh*kw*c {
		panic(fmt.Sprintf("cpu: DepthwiseRow: w has %d values, want %d", len(w), kh*kw*c))
	}
	if bias != nil && len(bias) < c {
		panic(fmt.Sprintf("cpu: DepthwiseRow: bias has %d values, want %d", len(bias), c))
	}
	depthwiseRow(dst, src, ld, w, bias, c, kh, kw, wo, stride)
}

func depthwiseRowGo(dst, src []float32, ld int, w, bias []float32, c, kh, kw, wo, stride int) {
	for ox := 0; ox < wo; ox++ {
		d := dst[ox*c : ox*c+c]
		if bias != nil {
			copy(d, bias[:c])
		} else {
			clear(d)
		}
		for ky := 0; ky < kh; ky++ {
			for kx := 0; kx < kw; kx++ {
				s := src[ky*ld+(ox*stride+kx)*c:][:c]
				wk := w[(ky*kw+kx)*c:][:c]
				for ch, v := range s {
					d[ch] += wk[ch] * v
				}
			}
		}
	}
}
