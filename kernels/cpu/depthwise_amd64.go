//go:build !purego

package cpu

// depthwiseRowAVX512 is depthwiseRowGo for the (at most 16) channels of one block, selected by mask: the
// pointers start at the block's first channel; c and ps stay the pixel strides of dst and src.
//
//go:noescape
func depthwiseRowAVX512(dst, src, w, bias *float32, c, ps, ld, kh, kw, wo, stride, mask int)

// depthwiseRowBlocksAVX512 is depthwiseRowGo in AVX-512 code.
func depthwiseRowBlocksAVX512(dst, src []float32, ld, ps int, w, bias []float32, c, kh, kw, wo, stride int) {
	// Channel blocks outermost: one block's lines of the kh input rows (kh·W·64 bytes) stay in L1 while
	// the whole output row is swept, given a pixel stride that spreads them over the cache sets.
	for cb := 0; cb < c; cb += 16 {
		var b *float32
		if bias != nil {
			b = &bias[cb]
		}
		n := min(16, c-cb)
		depthwiseRowAVX512(&dst[cb], &src[cb], &w[cb], b, c, ps, ld, kh, kw, wo, stride, 1<<n-1)
	}
}

// depthwiseRowAVX2 is depthwiseRowGo for the n <= 8 channels of one block, the pointers at the
// block's first channel; c and ps stay the pixel strides of dst and src.
//
//go:noescape
func depthwiseRowAVX2(dst, src, w, bias *float32, c, ps, ld, kh, kw, wo, stride, n int)

// depthwiseRowBlocksAVX2 is depthwiseRowGo in AVX2 code, eight channels at a time, each block swept
// across the whole row.
func depthwiseRowBlocksAVX2(dst, src []float32, ld, ps int, w, bias []float32, c, kh, kw, wo, stride int) {
	for cb := 0; cb < c; cb += 8 {
		var b *float32
		if bias != nil {
			b = &bias[cb]
		}
		depthwiseRowAVX2(&dst[cb], &src[cb], &w[cb], b, c, ps, ld, kh, kw, wo, stride, min(8, c-cb))
	}
}
