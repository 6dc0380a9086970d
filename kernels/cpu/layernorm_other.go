//go:build !amd64 || purego

package cpu

func layerNorm(dst, x, w, b []float32, eps float32) { layerNormGo(dst, x, w, b, eps) }
