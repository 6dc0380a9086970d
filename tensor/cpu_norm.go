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
	res, out := c.newResult(x.shape...)
	parallelFor(rows, max(1, 4096/max(n, 1)), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			cpu.LayerNorm(out[r*n:(r+1)*n], xd[r*n:(r+1)*n], wd, bd, eps)
		}
	})
	return res
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
