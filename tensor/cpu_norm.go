package tensor

import (
	"fmt"
	"math"

	"plp/kernels/cpu"
)

// rowsOf views x as rows of its last dimension.
func rowsOf(x *Tensor) (rows, n int) {
	n = x.Dim(-1)
	if n == 0 {
		return 0, 0
	}
	return x.Numel() / n, n
}

// LayerNorm implements Backend.
func (c CPU) LayerNorm(x, w, b *Tensor, eps float32) *Tensor {
	rows, n := rowsOf(x)
	var wd, bd []float32
	if w != nil {
		if w.Numel() != n {
			panic(fmt.Sprintf("tensor: LayerNorm of %v with weight %v", x.shape, w.shape))
		}
		wd = host(w)
	}
	if b != nil {
		if b.Numel() != n {
			panic(fmt.Sprintf("tensor: LayerNorm of %v with bias %v", x.shape, b.shape))
		}
		bd = host(b)
	}
	xd := host(x)
	out := make([]float32, len(xd))
	parallelFor(rows, max(1, 4096/max(n, 1)), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			layerNormRow(out[r*n:(r+1)*n], xd[r*n:(r+1)*n], wd, bd, eps)
		}
	})
	return c.wrap(out, x.shape...)
}

// layerNormRow uses two passes with float64 sums: rows are short, and the extra precision keeps the
// variance of large-offset activations (late ViT blocks) from cancelling.
func layerNormRow(dst, x, w, b []float32, eps float32) {
	var s float64
	for _, v := range x {
		s += float64(v)
	}
	mean := s / float64(len(x))
	var ss float64
	for _, v := range x {
		d := float64(v) - mean
		ss += d * d
	}
	inv := float32(1 / math.Sqrt(ss/float64(len(x))+float64(eps)))
	m := float32(mean)
	switch {
	case w != nil && b != nil:
		for i, v := range x {
			dst[i] = (v-m)*inv*w[i] + b[i]
		}
	case w != nil:
		for i, v := range x {
			dst[i] = (v - m) * inv * w[i]
		}
	default:
		for i, v := range x {
			dst[i] = (v - m) * inv
		}
		if b != nil {
			for i := range dst {
				dst[i] += b[i]
			}
		}
	}
}

// Softmax implements Backend.
func (c CPU) Softmax(x *Tensor) *Tensor {
	rows, n := rowsOf(x)
	out := append([]float32(nil), host(x)...)
	parallelFor(rows, max(1, 4096/max(n, 1)), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			softmaxRow(out[r*n : (r+1)*n])
		}
	})
	return c.wrap(out, x.shape...)
}

// softmaxRow normalises x in place; -Inf entries (masked keys) become 0. A row of only -Inf becomes NaN,
// as in PyTorch.
func softmaxRow(x []float32) {
	s := cpu.ExpSub(x, x, cpu.MaxVal(x))
	cpu.Scale(1/s, x)
}

// L2Normalize implements Backend.
func (c CPU) L2Normalize(x *Tensor, eps float32) *Tensor {
	rows, n := rowsOf(x)
	xd := host(x)
	out := make([]float32, len(xd))
	parallelFor(rows, max(1, 4096/max(n, 1)), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			row := xd[r*n : (r+1)*n]
			var ss float64
			for _, v := range row {
				ss += float64(v) * float64(v)
			}
			inv := float32(1 / math.Max(math.Sqrt(ss), float64(eps)))
			for i, v := range row {
				out[r*n+i] = v * inv
			}
		}
	})
	return c.wrap(out, x.shape...)
}
