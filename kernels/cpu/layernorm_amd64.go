//go:build !purego

package cpu

//go:noescape
func layerNormAVX512(dst, x, w, b []float32, eps float32)

//go:noescape
func layerNormAVX2(dst, x, w, b []float32, eps float32)
