//go:build !purego

package cpu

// depthwise16NEON and depthwise4NEON are depthwiseRowGo for the 16 or 4 channels of one block, the
// pointers at the block's first channel; c and ps stay the pixel strides of dst and src.
//
//go:noescape
func depthwise16NEON(dst, src, w, bias *float32, c, ps, ld, kh, kw, wo, stride int)

//go:noescape
func depthwise4NEON(dst, src, w, bias *float32, c, ps, ld, kh, kw, wo, stride int)

// depthwiseRowNEON is depthwiseRowGo in NEON code: blocks of 16 channels, then of 4, each swept across
// the whole row so that its lines of the input rows stay in L1; the last c mod 4 channels run in Go.
func depthwiseRowNEON(dst, src []float32, ld, ps int, w, bias []float32, c, kh, kw, wo, stride int) {
	c4 := c &^ 3
	for cb := 0; cb < c4; {
		var b *float32
		if bias != nil {
			b = &bias[cb]
		}
		if c4-cb >= 16 {
			depthwise16NEON(&dst[cb], &src[cb], &w[cb], b, c, ps, ld, kh, kw, wo, stride)
			cb += 16
		} else {
			depthwise4NEON(&dst[cb], &src[cb], &w[cb], b, c, ps, ld, kh, kw, wo, stride)
			cb += 4
		}
	}
	for ch := c4; ch < c; ch++ {
		for ox := 0; ox < wo; ox++ {
			var d float32
			if bias != nil {
				d = bias[ch]
			}
			for ky := 0; ky < kh; ky++ {
				for kx := 0; kx < kw; kx++ {
					d = fma32(w[(ky*kw+kx)*ps+ch], src[ky*ld+(ox*stride+kx)*ps+ch], d)
				}
			}
			dst[ox*c+ch] = d
		}
	}
}
