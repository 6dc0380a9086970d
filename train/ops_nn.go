package train

import (
	"fmt"

	"plp/tensor"
)

// Differentiable versions of the backend operations the encoders use. Each records its backward on the
// tape; the backward passes call the backend's backward operations, so they run on any backend.

// Add is a + b with b broadcast onto a's shape (the backend's trailing broadcasting rule).
func (tp *Tape) Add(a, b *Var) *Var {
	be := tp.be
	return tp.record(be.Add(a.Value, b.Value), func(g *tensor.Tensor) {
		tp.accumulate(a, g)
		if b.requiresGrad {
			tp.accumulate(b, be.SumTo(g, b.Value.Shape()...))
		}
	}, a, b)
}

// Sub is a - b with b broadcast onto a's shape.
func (tp *Tape) Sub(a, b *Var) *Var {
	be := tp.be
	return tp.record(be.Sub(a.Value, b.Value), func(g *tensor.Tensor) {
		tp.accumulate(a, g)
		if b.requiresGrad {
			tp.accumulate(b, be.SumTo(be.Scale(g, -1, 0), b.Value.Shape()...))
		}
	}, a, b)
}

// Mul is a ∘ b with b broadcast onto a's shape.
func (tp *Tape) Mul(a, b *Var) *Var {
	be := tp.be
	return tp.record(be.Mul(a.Value, b.Value), func(g *tensor.Tensor) {
		if a.requiresGrad {
			tp.accumulate(a, be.Mul(g, b.Value))
		}
		if b.requiresGrad {
			tp.accumulate(b, be.SumTo(be.Mul(g, a.Value), b.Value.Shape()...))
		}
	}, a, b)
}

// Scale is s·a + c.
func (tp *Tape) Scale(a *Var, s, c float32) *Var {
	be := tp.be
	return tp.record(be.Scale(a.Value, s, c), func(g *tensor.Tensor) {
		tp.accumulate(a, be.Scale(g, s, 0))
	}, a)
}

// Activation applies f elementwise.
func (tp *Tape) Activation(x *Var, f tensor.Act) *Var {
	be := tp.be
	return tp.record(be.Activation(x.Value, f), func(g *tensor.Tensor) {
		tp.accumulate(x, be.ActivationBackward(x.Value, g, f))
	}, x)
}

// LayerNorm normalises over the last dimension; w and b may be nil.
func (tp *Tape) LayerNorm(x, w, b *Var, eps float32) *Var {
	be := tp.be
	var wt, bt *tensor.Tensor
	if w != nil {
		wt = w.Value
	}
	if b != nil {
		bt = b.Value
	}
	return tp.record(be.LayerNorm(x.Value, wt, bt, eps), func(g *tensor.Tensor) {
		dx, dw, db := be.LayerNormBackward(x.Value, wt, g, eps)
		tp.accumulate(x, dx)
		if w != nil {
			tp.accumulate(w, dw)
		}
		if b != nil && b.requiresGrad {
			if db == nil {
				db = be.SumTo(g, b.Value.Shape()...)
			}
			tp.accumulate(b, db)
		}
	}, x, w, b)
}

// Softmax is over the last dimension.
func (tp *Tape) Softmax(x *Var) *Var {
	be := tp.be
	y := be.Softmax(x.Value)
	return tp.record(y, func(g *tensor.Tensor) {
		tp.accumulate(x, be.SoftmaxBackward(y, g))
	}, x)
}

// L2Normalize divides each row by max(norm, eps).
func (tp *Tape) L2Normalize(x *Var, eps float32) *Var {
	be := tp.be
	return tp.record(be.L2Normalize(x.Value, eps), func(g *tensor.Tensor) {
		tp.accumulate(x, be.L2NormalizeBackward(x.Value, g, eps))
	}, x)
}

// Attention is the backend's fused multi-head attention; opt.Bias is a constant.
func (tp *Tape) Attention(q, k, v *Var, heads int, opt tensor.AttnOpts) *Var {
	be := tp.be
	return tp.record(be.Attention(q.Value, k.Value, v.Value, heads, opt), func(g *tensor.Tensor) {
		dq, dk, dv := be.AttentionBackward(q.Value, k.Value, v.Value, g, heads, opt)
		tp.accumulate(q, dq)
		tp.accumulate(k, dk)
		tp.accumulate(v, dv)
	}, q, k, v)
}

// Conv2D is NCHW cross-correlation; b may be nil.
func (tp *Tape) Conv2D(x, w, b *Var, p tensor.Conv) *Var {
	be := tp.be
	var bt *tensor.Tensor
	if b != nil {
		bt = b.Value
	}
	return tp.record(be.Conv2D(x.Value, w.Value, bt, p), func(g *tensor.Tensor) {
		dx, dw, db := be.Conv2DBackward(x.Value, w.Value, g, p)
		tp.accumulate(x, dx)
		tp.accumulate(w, dw)
		if b != nil {
			tp.accumulate(b, db)
		}
	}, x, w, b)
}

// Pool2D is NCHW average or max pooling.
func (tp *Tape) Pool2D(x *Var, p tensor.Pool) *Var {
	be := tp.be
	return tp.record(be.Pool2D(x.Value, p), func(g *tensor.Tensor) {
		tp.accumulate(x, be.Pool2DBackward(x.Value, g, p))
	}, x)
}

// MatMul multiplies the last two dims as the backend's MatMul; b may be 2-D (shared across the batch).
func (tp *Tape) MatMul(a, b *Var, transA, transB bool) *Var {
	be := tp.be
	return tp.record(be.MatMul(a.Value, b.Value, transA, transB), func(g *tensor.Tensor) {
		if a.requiresGrad {
			// C = op(A)·op(B): d op(A) = G·op(B)ᵀ.
			da := be.MatMul(g, b.Value, false, !transB)
			if transA {
				// A holds op(A)ᵀ: transpose the gradient back.
				da = be.Permute(da, permSwapLast(da.Rank())...)
			}
			tp.accumulate(a, da)
		}
		if b.requiresGrad {
			var db *tensor.Tensor
			if b.Value.Rank() == 2 && a.Value.Rank() > 2 {
				// A shared right operand: fold the batch into rows.
				r := a.Value.Rank()
				k := a.Value.Dim(r - 1)
				a2 := a.Value
				if transA {
					a2 = be.Permute(a2, permSwapLast(r)...)
					k = a.Value.Dim(r - 2)
				}
				a2 = a2.Reshape(-1, k)
				g2 := g.Reshape(-1, g.Dim(-1))
				if transB {
					db = be.MatMul(g2, a2, true, false)
				} else {
					db = be.MatMul(a2, g2, true, false)
				}
			} else if transB {
				db = be.MatMul(g, a.Value, true, transA)
			} else {
				db = be.MatMul(a.Value, g, !transA, false)
			}
			tp.accumulate(b, db)
		}
	}, a, b)
}

func permSwapLast(r int) []int {
	p := make([]int, r)
	for i := range p {
		p[i] = i
	}
	p[r-1], p[r-2] = p[r-2], p[r-1]
	return p
}

// Permute reorders dimensions: result dim i is input dim perm[i].
func (tp *Tape) Permute(x *Var, perm ...int) *Var {
	be := tp.be
	perm = append([]int(nil), perm...)
	return tp.record(be.Permute(x.Value, perm...), func(g *tensor.Tensor) {
		inv := make([]int, len(perm))
		for i, p := range perm {
			inv[p] = i
		}
		tp.accumulate(x, be.Permute(g, inv...))
	}, x)
}

// Reshape is a view with a new shape of the same size.
func (tp *Tape) Reshape(x *Var, shape ...int) *Var {
	return tp.record(x.Value.Reshape(shape...), func(g *tensor.Tensor) {
		tp.accumulate(x, g.Reshape(x.Value.Shape()...))
	}, x)
}

// Concat joins xs along axis.
func (tp *Tape) Concat(axis int, xs ...*Var) *Var {
	be := tp.be
	vals := make([]*tensor.Tensor, len(xs))
	for i, x := range xs {
		vals[i] = x.Value
	}
	y := be.Concat(axis, vals...)
	ax := axis
	if ax < 0 {
		ax += y.Rank()
	}
	return tp.record(y, func(g *tensor.Tensor) {
		start := 0
		for _, x := range xs {
			n := x.Value.Dim(ax)
			if x.requiresGrad {
				tp.accumulate(x, be.Slice(g, ax, start, start+n))
			}
			start += n
		}
	}, xs...)
}

// Slice takes [start, end) along axis.
func (tp *Tape) Slice(x *Var, axis, start, end int) *Var {
	be := tp.be
	y := be.Slice(x.Value, axis, start, end)
	ax := axis
	if ax < 0 {
		ax += x.Value.Rank()
	}
	return tp.record(y, func(g *tensor.Tensor) {
		parts := []*tensor.Tensor{}
		shape := append([]int(nil), x.Value.Shape()...)
		if start > 0 {
			shape[ax] = start
			parts = append(parts, be.Zeros(shape...))
		}
		parts = append(parts, g)
		if n := x.Value.Dim(ax); end < n {
			shape[ax] = n - end
			parts = append(parts, be.Zeros(shape...))
		}
		if len(parts) == 1 {
			tp.accumulate(x, g)
			return
		}
		tp.accumulate(x, be.Concat(ax, parts...))
	}, x)
}

// Gather picks rows of table by index.
func (tp *Tape) Gather(table *Var, idx []int) *Var {
	be := tp.be
	idx = append([]int(nil), idx...)
	return tp.record(be.Gather(table.Value, idx), func(g *tensor.Tensor) {
		tp.accumulate(table, be.ScatterAddRows(g, idx, table.Value.Dim(0)))
	}, table)
}

// TakeRows picks, for each b of x [B, N, ...], row idx[b] along dim 1.
func (tp *Tape) TakeRows(x *Var, idx []int) *Var {
	be := tp.be
	idx = append([]int(nil), idx...)
	return tp.record(be.TakeRows(x.Value, idx), func(g *tensor.Tensor) {
		B, N := x.Value.Dim(0), x.Value.Dim(1)
		flat := make([]int, len(idx))
		for b, i := range idx {
			flat[b] = b*N + i
		}
		tp.accumulate(x, be.ScatterAddRows(g, flat, B*N).Reshape(x.Value.Shape()...))
	}, x)
}

// Reduce sums or averages over axis (Sum and Mean only: the others have no gradient here).
func (tp *Tape) Reduce(x *Var, axis int, op tensor.ReduceOp) *Var {
	if op != tensor.Sum && op != tensor.Mean {
		panic(fmt.Sprintf("train: Reduce op %d has no gradient", op))
	}
	be := tp.be
	ax := axis
	if ax < 0 {
		ax += x.Value.Rank()
	}
	return tp.record(be.Reduce(x.Value, ax, op), func(g *tensor.Tensor) {
		shape := append([]int(nil), x.Value.Shape()...)
		n := shape[ax]
		shape[ax] = 1
		gx := be.Add(be.Zeros(x.Value.Shape()...), g.Reshape(shape...))
		if op == tensor.Mean {
			gx = be.Scale(gx, 1/float32(n), 0)
		}
		tp.accumulate(x, gx)
	}, x)
}

// Mean averages all elements into a [1] scalar.
func (tp *Tape) Mean(x *Var) *Var { return tp.Reduce(tp.Reshape(x, -1), 0, tensor.Mean) }

// Sum adds all elements into a [1] scalar.
func (tp *Tape) Sum(x *Var) *Var { return tp.Reduce(tp.Reshape(x, -1), 0, tensor.Sum) }

// CosineSimilarity is the row-wise cosine of a and b [B, D] (PyTorch's cosine_similarity with a
// negligible eps): [B].
func (tp *Tape) CosineSimilarity(a, b *Var) *Var {
	an, bn := tp.L2Normalize(a, 1e-8), tp.L2Normalize(b, 1e-8)
	return tp.Reduce(tp.Mul(an, bn), -1, tensor.Sum)
}
