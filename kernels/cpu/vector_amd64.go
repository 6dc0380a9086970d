//go:build !purego

package cpu

//go:noescape
func dotAVX512(x, y []float32) float32

//go:noescape
func axpyAVX512(alpha float32, x, y []float32)

//go:noescape
func scaleAVX512(alpha float32, x []float32)

//go:noescape
func sumAVX512(x []float32) float32

//go:noescape
func maxAVX512(x []float32) float32

//go:noescape
func expSubAVX512(dst, x []float32, m float32) float32

//go:noescape
func geluAVX512(dst, x []float32)

//go:noescape
func quickGeluAVX512(dst, x []float32)

func gelu(dst, x []float32) {
	if hasAVX512 {
		geluAVX512(dst, x)
		return
	}
	geluGo(dst, x)
}

func quickGelu(dst, x []float32) {
	if hasAVX512 {
		quickGeluAVX512(dst, x)
		return
	}
	quickGeluGo(dst, x)
}

func dot(x, y []float32) float32 {
	if hasAVX512 {
		return dotAVX512(x, y)
	}
	return dotGo(x, y)
}

func axpy(alpha float32, x, y []float32) {
	if hasAVX512 {
		axpyAVX512(alpha, x, y)
		return
	}
	axpyGo(alpha, x, y)
}

func scale(alpha float32, x []float32) {
	if hasAVX512 {
		scaleAVX512(alpha, x)
		return
	}
	scaleGo(alpha, x)
}

func sum(x []float32) float32 {
	if hasAVX512 {
		return sumAVX512(x)
	}
	return sumGo(x)
}

func maxVal(x []float32) float32 {
	if hasAVX512 {
		return maxAVX512(x)
	}
	return maxValGo(x)
}

func expSub(dst, x []float32, m float32) float32 {
	if hasAVX512 {
		return expSubAVX512(dst, x, m)
	}
	return expSubGo(dst, x, m)
}
