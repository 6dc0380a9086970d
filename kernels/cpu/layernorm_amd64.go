//go:build !purego

package cpu

//go:noescape
func layerNormAVX512(dst, x, w, b []float32, eps float32)

func layerNorm(dst, x, w, b []float32, eps float32) {
	if hasAVX512 {
		layerNormAVX512(dst, x, w, b, eps)
		return
	}
	layerNormGo(dst, x, w, b, eps)
}
