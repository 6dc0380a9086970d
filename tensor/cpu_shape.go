package tensor

import "fmt"

// Permute implements Backend.
func (c CPU) Permute(x *Tensor, perm ...int) *Tensor {
	r := x.Rank()
	outShape, strides := permuteGeom(x, perm) // strides: the input stride of each output dim
	xd := host(x)
	res, out := c.newResult(outShape...)
	if r == 0 || len(out) == 0 {
		copy(out, xd)
		return res
	}
	inner := outShape[r-1]
	innerStride := strides[r-1]
	rows := len(out) / inner
	parallelFor(rows, max(1, 4096/max(inner, 1)), func(lo, hi int) {
		for row := lo; row < hi; row++ {
			rem, off := row, 0
			for d := r - 2; d >= 0; d-- {
				off += (rem % outShape[d]) * strides[d]
				rem /= outShape[d]
			}
			dst := out[row*inner : (row+1)*inner]
			if innerStride == 1 {
				copy(dst, xd[off:off+inner])
				continue
			}
			for i := range dst {
				dst[i] = xd[off+i*innerStride]
			}
		}
	})
	return res
}

// Concat implements Backend.
func (c CPU) Concat(axis int, ts ...*Tensor) *Tensor {
	axis, outShape, outer, inner := concatGeom(axis, ts)
	res, out := c.newResult(outShape...)
	rowOut := outShape[axis] * inner
	pos := 0
	for _, t := range ts {
		td := host(t)
		n := t.shape[axis] * inner
		for o := 0; o < outer; o++ {
			copy(out[o*rowOut+pos:o*rowOut+pos+n], td[o*n:(o+1)*n])
		}
		pos += n
	}
	return res
}

// Slice implements Backend.
func (c CPU) Slice(x *Tensor, axis, start, end int) *Tensor {
	axis, outShape, outer, inner := sliceGeom(x, axis, start, end)
	xd := host(x)
	n := (end - start) * inner
	res, out := c.newResult(outShape...)
	for o := 0; o < outer; o++ {
		src := xd[(o*x.shape[axis]+start)*inner:]
		copy(out[o*n:(o+1)*n], src[:n])
	}
	return res
}

// Gather implements Backend.
func (c CPU) Gather(table *Tensor, idx []int) *Tensor {
	if table.Rank() < 1 {
		panic("tensor: Gather from a scalar")
	}
	v := table.shape[0]
	inner := Numel(table.shape[1:])
	td := host(table)
	out := make([]float32, len(idx)*inner)
	for i, j := range idx {
		if j < 0 || j >= v {
			panic(fmt.Sprintf("tensor: Gather index %d outside [0,%d)", j, v))
		}
		copy(out[i*inner:(i+1)*inner], td[j*inner:(j+1)*inner])
	}
	return c.wrap(out, append([]int{len(idx)}, table.shape[1:]...)...)
}

// TakeRows implements Backend.
func (c CPU) TakeRows(x *Tensor, idx []int) *Tensor {
	if x.Rank() < 2 || len(idx) != x.shape[0] {
		panic(fmt.Sprintf("tensor: TakeRows %d indices from %v", len(idx), x.shape))
	}
	n := x.shape[1]
	inner := Numel(x.shape[2:])
	xd := host(x)
	out := make([]float32, len(idx)*inner)
	for b, j := range idx {
		if j < 0 || j >= n {
			panic(fmt.Sprintf("tensor: TakeRows index %d outside [0,%d)", j, n))
		}
		copy(out[b*inner:(b+1)*inner], xd[(b*n+j)*inner:(b*n+j+1)*inner])
	}
	return c.wrap(out, append([]int{len(idx)}, x.shape[2:]...)...)
}

// Reduce implements Backend.
func (c CPU) Reduce(x *Tensor, axis int, op ReduceOp) *Tensor {
	axis = normAxis(axis, x.Rank())
	outer := Numel(x.shape[:axis])
	n := x.shape[axis]
	inner := Numel(x.shape[axis+1:])
	outShape := append(append([]int(nil), x.shape[:axis]...), x.shape[axis+1:]...)
	xd := host(x)
	out := make([]float32, outer*inner)
	parallelFor(outer, 1, func(lo, hi int) {
		acc := make([]float64, inner)
		acc2 := make([]float64, inner)
		for o := lo; o < hi; o++ {
			base := xd[o*n*inner : (o+1)*n*inner]
			for i := range acc {
				acc[i], acc2[i] = 0, 0
			}
			if op == Max {
				copy32to64(acc, base[:inner])
			}
			for j := 0; j < n; j++ {
				row := base[j*inner : (j+1)*inner]
				for i, v := range row {
					switch op {
					case Max:
						if float64(v) > acc[i] {
							acc[i] = float64(v)
						}
					default:
						acc[i] += float64(v)
					}
				}
			}
			dst := out[o*inner : (o+1)*inner]
			switch op {
			case Sum, Max:
				for i := range dst {
					dst[i] = float32(acc[i])
				}
			case Mean:
				for i := range dst {
					dst[i] = float32(acc[i] / float64(n))
				}
			case Var:
				for j := 0; j < n; j++ {
					row := base[j*inner : (j+1)*inner]
					for i, v := range row {
						d := float64(v) - acc[i]/float64(n)
						acc2[i] += d * d
					}
				}
				for i := range dst {
					dst[i] = float32(acc2[i] / float64(n))
				}
			}
		}
	})
	return c.wrap(out, outShape...)
}

func copy32to64(dst []float64, src []float32) {
	for i, v := range src {
		dst[i] = float64(v)
	}
}

// ArgMax implements Backend. Ties resolve to the first maximum, as torch.argmax does on CPU.
func (c CPU) ArgMax(x *Tensor) []int {
	rows, n := rowsOf(x)
	xd := host(x)
	out := make([]int, rows)
	for r := range out {
		row := xd[r*n : (r+1)*n]
		best := 0
		for j, v := range row {
			if v > row[best] {
				best = j
			}
		}
		out[r] = best
	}
	return out
}
