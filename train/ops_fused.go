package train

import (
	"fmt"

	"plp/tensor"
)

// Fused versions of the transformer block's operation chains. Each computes what the chain of unfused
// tape operations computes, with fewer passes over the activations and fewer gradient tensors: the
// residual add runs in the SGEMM epilogue, and the packed q/k/v projection gets one gradient tensor
// instead of three zero-padded ones summed together.

// linearBackward hands the gradient g of x @ wᵀ + b to x, w and b.
func (tp *Tape) linearBackward(g *tensor.Tensor, x, w, b *Var) {
	be := tp.be
	in, out := w.Value.Dim(1), w.Value.Dim(0)
	g2 := g.Reshape(-1, out)
	if x.requiresGrad {
		tp.accumulate(x, be.MatMul(g2, w.Value, false, false).Reshape(x.Value.Shape()...))
	}
	if w.requiresGrad {
		tp.accumulate(w, be.MatMul(g2, x.Value.Reshape(-1, in), true, false))
	}
	if b != nil && b.requiresGrad {
		tp.accumulate(b, be.Reduce(g2, 0, tensor.Sum))
	}
}

// LinearResidual is res + (x @ wᵀ + b), with the add in the SGEMM epilogue; b may be nil and res has the
// result's shape.
func (tp *Tape) LinearResidual(x, w, b, res *Var) *Var {
	var bt *tensor.Tensor
	if b != nil {
		bt = b.Value
	}
	y := tp.be.LinearAct(x.Value, w.Value, bt, res.Value, tensor.Identity)
	return tp.record(y, func(g *tensor.Tensor) {
		tp.linearBackward(g, x, w, b)
		tp.accumulate(res, g)
	}, x, w, b, res)
}

// LinearAct is f(x @ wᵀ + b); b may be nil. The pre-activation is kept for the backward pass, which
// multiplies the gradient by f' before the linear layer's backward.
func (tp *Tape) LinearAct(x, w, b *Var, f tensor.Act) *Var {
	be := tp.be
	var bt *tensor.Tensor
	if b != nil {
		bt = b.Value
	}
	pre := be.Linear(x.Value, w.Value, bt)
	y := be.Activation(pre, f)
	return tp.record(y, func(g *tensor.Tensor) {
		tp.linearBackward(be.ActivationBackward(pre, g, f), x, w, b)
	}, x, w, b)
}

// AttentionQKV is multi-head attention over a packed projection qkv [B, N, 3D] whose last dimension holds
// q, k and v one after the other (PyTorch's in_proj layout); opt.Bias is a constant.
func (tp *Tape) AttentionQKV(qkv *Var, heads int, opt tensor.AttnOpts) *Var {
	be := tp.be
	if qkv.Value.Rank() != 3 || qkv.Value.Dim(2)%3 != 0 {
		panic(fmt.Sprintf("train: AttentionQKV of %v", qkv.Value.Shape()))
	}
	d := qkv.Value.Dim(2) / 3
	q, k, v := be.Slice(qkv.Value, 2, 0, d), be.Slice(qkv.Value, 2, d, 2*d), be.Slice(qkv.Value, 2, 2*d, 3*d)
	y := be.Attention(q, k, v, heads, opt)
	return tp.record(y, func(g *tensor.Tensor) {
		dq, dk, dv := be.AttentionBackward(q, k, v, g, heads, opt)
		tp.accumulate(qkv, be.Concat(2, dq, dk, dv))
	}, qkv)
}
