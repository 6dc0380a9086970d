//go:build !purego

package cpu

//go:noescape
func layerNormAVX512(dst, x, w, b []float32, eps float32)
