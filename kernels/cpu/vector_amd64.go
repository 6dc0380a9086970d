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

//go:noescape
func dotAVX2(x, y []float32) float32

//go:noescape
func axpyAVX2(alpha float32, x, y []float32)

//go:noescape
func scaleAVX2(alpha float32, x []float32)

//go:noescape
func sumAVX2(x []float32) float32

//go:noescape
func expSubAVX2(dst, x []float32, m float32) float32

//go:noescape
func geluAVX2(dst, x []float32)

//go:noescape
func quickGeluAVX2(dst, x []float32)

//go:noescape
func maxAVX2(x []float32) float32
