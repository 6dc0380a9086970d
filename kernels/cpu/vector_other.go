//go:build !amd64 || purego

package cpu

func dot(x, y []float32) float32                 { return dotGo(x, y) }
func axpy(alpha float32, x, y []float32)         { axpyGo(alpha, x, y) }
func scale(alpha float32, x []float32)           { scaleGo(alpha, x) }
func sum(x []float32) float32                    { return sumGo(x) }
func maxVal(x []float32) float32                 { return maxValGo(x) }
func expSub(dst, x []float32, m float32) float32 { return expSubGo(dst, x, m) }
func gelu(dst, x []float32)                      { geluGo(dst, x) }
func quickGelu(dst, x []float32)                 { quickGeluGo(dst, x) }
