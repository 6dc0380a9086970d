//go:build !amd64 || purego

package cpu

func depthwiseRow(dst, src []float32, ld, ps int, w, bias []float32, c, kh, kw, wo, stride int) {
	depthwiseRowGo(dst, src, ld, ps, w, bias, c, kh, kw, wo, stride)
}
