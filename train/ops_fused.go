package train

import (
	"fmt"

	"plp/tensor"
)

// Fused versions of the transformer block's operation chains. Each computes what the chain of unfused
// tape operations computes, with fewer passes over the activations and fewer gradient tensors: the
// residual add runs in the SGEMM epilogue, and the packed q/k/v projection gets one gradient tensor
// instead of three zero-padded ones summed together.

// packedAttentionBackward is implemented by backends that take the gradient of attention over a packed
// q/k/v projection in place (the CPU).
type packedAttentionBackward interface {
	AttentionBackwardPacked(qkv, dy *tensor.Tensor, heads int, opt tensor.AttnOpts) *tensor.Tensor
}

// probsAttention is implemented by backends whose training attention keeps the probabilities for the
// backward pass (the CPU).
type probsAttention interface {
	AttentionProbs(qkv *tensor.Tensor, heads, queries int) (y, probs *tensor.Tensor)
	AttentionProbsBackward(qkv, probs, dy *tensor.Tensor, heads int) *tensor.Tensor
}

// biasActBackward is implemented by backends that compute an activation's gradient and the bias gradient
// in one pass (the CPU).
type biasActBackward interface {
	ActivationBiasBackward(x, dy *tensor.Tensor, f tensor.Act) (dx, db *tensor.Tensor)
}

// linearBackward hands the gradient g of x @ wᵀ + b to x, w and b.
func (tp *Tape) linearBackward(g *tensor.Tensor, x, w, b *Var) {
	tp.linearActBackward(g, nil, tensor.Identity, x, w, b)
}

// linearActBackward hands the gradient g of f(pre), pre = x @ wᵀ + b, to x, w and b; pre is nil when f is
// Identity.
func (tp *Tape) linearActBackward(g, pre *tensor.Tensor, f tensor.Act, x, w, b *Var) {
	be := tp.be
	in, out := w.Value.Dim(1), w.Value.Dim(0)
	wantB := b != nil && b.requiresGrad
	var dpre, db *tensor.Tensor
	if fb, ok := be.(biasActBackward); ok && wantB {
		dpre, db = fb.ActivationBiasBackward(pre, g, f)
	} else {
		dpre = g
		if f != tensor.Identity {
			dpre = be.ActivationBackward(pre, g, f)
		}
		if wantB {
			db = be.Reduce(dpre.Reshape(-1, out), 0, tensor.Sum)
		}
	}
	g2 := dpre.Reshape(-1, out)
	if x.requiresGrad {
		tp.accumulate(x, be.MatMul(g2, w.Value, false, false).Reshape(x.Value.Shape()...))
	}
	if w.requiresGrad {
		tp.accumulate(w, be.MatMul(g2, x.Value.Reshape(-1, in), true, false))
	}
	if wantB {
		tp.accumulate(b, db)
	}
	if f != tensor.Identity {
		// The activation's gradient is this operation's own scratch.
		be.Free(dpre)
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
	if f == tensor.Identity {
		return tp.record(pre, func(g *tensor.Tensor) { tp.linearBackward(g, x, w, b) }, x, w, b)
	}
	y := tp.record(be.Activation(pre, f), func(g *tensor.Tensor) {
		tp.linearActBackward(g, pre, f, x, w, b)
		be.Free(pre)
	}, x, w, b)
	if !y.requiresGrad {
		be.Free(pre)
	}
	return y
}

// AttentionQKV is multi-head attention over a packed projection qkv [B, N, 3D] whose last dimension holds
// q, k and v one after the other (PyTorch's in_proj layout); opt.Bias is a constant. Only the first
// queries positions attend (all N when queries is 0): [B, queries, D].
func (tp *Tape) AttentionQKV(qkv *Var, heads, queries int, opt tensor.AttnOpts) *Var {
	be := tp.be
	if qkv.Value.Rank() != 3 || qkv.Value.Dim(2)%3 != 0 || queries < 0 || queries > qkv.Value.Dim(1) {
		panic(fmt.Sprintf("train: AttentionQKV of %v with %d queries", qkv.Value.Shape(), queries))
	}
	n, d := qkv.Value.Dim(1), qkv.Value.Dim(2)/3
	if queries == 0 {
		queries = n
	}
	if pa, ok := be.(probsAttention); ok && opt.Bias == nil && !opt.Causal && opt.Lens == nil {
		y, probs := pa.AttentionProbs(qkv.Value, heads, queries)
		out := tp.record(y, func(g *tensor.Tensor) {
			tp.accumulate(qkv, pa.AttentionProbsBackward(qkv.Value, probs, g, heads))
			be.Free(probs)
		}, qkv)
		if !out.requiresGrad {
			be.Free(probs)
		}
		return out
	}
	var q *tensor.Tensor
	if queries == n {
		q = be.Slice(qkv.Value, 2, 0, d)
	} else {
		// The rows first, so that only they are copied.
		rows := be.Slice(qkv.Value, 1, 0, queries)
		q = be.Slice(rows, 2, 0, d)
		be.Free(rows)
	}
	k, v := be.Slice(qkv.Value, 2, d, 2*d), be.Slice(qkv.Value, 2, 2*d, 3*d)
	y := be.Attention(q, k, v, heads, opt)
	if pb, ok := be.(packedAttentionBackward); ok && opt.Lens == nil {
		// The backward pass reads q, k and v in place from qkv: the slices are done with.
		be.Free(q)
		be.Free(k)
		be.Free(v)
		return tp.record(y, func(g *tensor.Tensor) {
			tp.accumulate(qkv, pb.AttentionBackwardPacked(qkv.Value, g, heads, opt))
		}, qkv)
	}
	out := tp.record(y, func(g *tensor.Tensor) {
		dq, dk, dv := be.AttentionBackward(q, k, v, g, heads, opt)
		dqFull := dq
		if queries < n {
			dqFull = be.Concat(1, dq, be.Zeros(qkv.Value.Dim(0), n-queries, d))
		}
		tp.accumulate(qkv, be.Concat(2, dqFull, dk, dv))
		// The slices and their gradients are this operation's own: their memory can serve the next step.
		for _, t := range []*tensor.Tensor{q, k, v, dq, dk, dv} {
			be.Free(t)
		}
		if dqFull != dq {
			be.Free(dqFull)
		}
	}, qkv)
	if !out.requiresGrad {
		be.Free(q)
		be.Free(k)
		be.Free(v)
	}
	return out
}
