package tensor

import (
	"fmt"

	"plp/kernels/cpu"
)

// broadcastPlan describes how b maps onto a's rows: a is viewed as rows of length inner; for each row, b
// contributes either a vector of length inner (vec) or one scalar.
type broadcastPlan struct {
	bStrides []int // b's strides aligned to a's dims, 0 where b broadcasts
	vec      bool  // b varies along a's last dimension
}

func planBroadcast(op string, a, b []int) broadcastPlan {
	if len(b) > len(a) {
		panic(fmt.Sprintf("tensor: %s cannot broadcast %v onto %v", op, b, a))
	}
	strides := make([]int, len(a))
	s := 1
	for i := len(a) - 1; i >= 0; i-- {
		j := i - (len(a) - len(b))
		if j < 0 {
			continue
		}
		switch b[j] {
		case a[i]:
			if a[i] != 1 {
				strides[i] = s
			}
		case 1:
		default:
			panic(fmt.Sprintf("tensor: %s cannot broadcast %v onto %v", op, b, a))
		}
		s *= b[j]
	}
	return broadcastPlan{bStrides: strides, vec: len(a) > 0 && strides[len(a)-1] != 0}
}

func (c CPU) binary(op string, a, b *Tensor, f func(dst, x []float32, y []float32, scalar float32)) *Tensor {
	ad, bd := host(a), host(b)
	res, out := c.newResult(a.shape...)
	if SameShape(a.shape, b.shape) {
		parallelFor(len(ad), 1<<15, func(lo, hi int) { f(out[lo:hi], ad[lo:hi], bd[lo:hi], 0) })
		return res
	}
	p := planBroadcast(op, a.shape, b.shape)
	inner := 1
	if a.Rank() > 0 {
		inner = a.shape[a.Rank()-1]
	}
	rows := len(ad) / max(inner, 1)
	parallelFor(rows, max(1, (1<<14)/max(inner, 1)), func(lo, hi int) {
		idx := make([]int, a.Rank())
		for r := lo; r < hi; r++ {
			// Offset of row r in b from its multi-index over a's leading dims.
			rem, off := r, 0
			for d := a.Rank() - 2; d >= 0; d-- {
				idx[d] = rem % a.shape[d]
				rem /= a.shape[d]
				off += idx[d] * p.bStrides[d]
			}
			dst, x := out[r*inner:(r+1)*inner], ad[r*inner:(r+1)*inner]
			if p.vec {
				f(dst, x, bd[off:off+inner], 0)
			} else {
				f(dst, x, nil, bd[off])
			}
		}
	})
	return res
}

// Add implements Backend.
func (c CPU) Add(a, b *Tensor) *Tensor {
	return c.binary("Add", a, b, func(dst, x, y []float32, s float32) {
		if y == nil {
			for i, v := range x {
				dst[i] = v + s
			}
			return
		}
		y = y[:len(x)]
		for i, v := range x {
			dst[i] = v + y[i]
		}
	})
}

// Sub implements Backend.
func (c CPU) Sub(a, b *Tensor) *Tensor {
	return c.binary("Sub", a, b, func(dst, x, y []float32, s float32) {
		if y == nil {
			for i, v := range x {
				dst[i] = v - s
			}
			return
		}
		y = y[:len(x)]
		for i, v := range x {
			dst[i] = v - y[i]
		}
	})
}

// Mul implements Backend.
func (c CPU) Mul(a, b *Tensor) *Tensor {
	return c.binary("Mul", a, b, func(dst, x, y []float32, s float32) {
		if y == nil {
			for i, v := range x {
				dst[i] = v * s
			}
			return
		}
		y = y[:len(x)]
		for i, v := range x {
			dst[i] = v * y[i]
		}
	})
}

// Scale implements Backend.
func (c CPU) Scale(a *Tensor, s, k float32) *Tensor {
	ad := host(a)
	res, out := c.newResult(a.shape...)
	parallelFor(len(ad), 1<<15, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			out[i] = s*ad[i] + k
		}
	})
	return res
}

// Activation implements Backend.
func (c CPU) Activation(a *Tensor, f Act) *Tensor {
	src := host(a)
	res, out := c.newResult(a.shape...)
	parallelFor(len(out), 1<<13, func(lo, hi int) {
		// The vector kernels read one slice and write another, sparing a copy.
		switch f {
		case GELU:
			cpu.Gelu(out[lo:hi], src[lo:hi])
		case QuickGELU:
			cpu.QuickGelu(out[lo:hi], src[lo:hi])
		default:
			copy(out[lo:hi], src[lo:hi])
			applyAct(f, out[lo:hi])
		}
	})
	return res
}
