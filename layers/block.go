package layers

import (
	"plp/tensor"
)

// LayerNorm holds the parameters of a LayerNorm over the last dimension.
type LayerNorm struct {
	W, B *tensor.Tensor
	Eps  float32
}

// NewLayerNorm takes the parameters pre+"weight" and pre+"bias" from p.
func NewLayerNorm(p map[string]*tensor.Tensor, pre string, eps float32) LayerNorm {
	return LayerNorm{W: p[pre+"weight"], B: p[pre+"bias"], Eps: eps}
}

// Apply returns LayerNorm(x) as a new tensor.
func (n LayerNorm) Apply(be tensor.Backend, x *tensor.Tensor) *tensor.Tensor {
	return be.LayerNorm(x, n.W, n.B, n.Eps)
}

// Block is open_clip's ResidualAttentionBlock, a pre-LN transformer block:
// x += out_proj(attn(ln_1(x))); x += c_proj(act(c_fc(ln_2(x)))).
type Block struct {
	ln1, ln2   LayerNorm
	qw, kw, vw *tensor.Tensor // row blocks of the packed in_proj_weight (views)
	qb, kb, vb *tensor.Tensor
	ow, ob     *tensor.Tensor
	fcw, fcb   *tensor.Tensor
	pw, pb     *tensor.Tensor
}

// BlockShapes is the key table of one Block of width w and MLP width m, keys relative to the block.
func BlockShapes(w, m int) map[string][]int {
	return map[string][]int{
		"ln_1.weight":          {w},
		"ln_1.bias":            {w},
		"attn.in_proj_weight":  {3 * w, w},
		"attn.in_proj_bias":    {3 * w},
		"attn.out_proj.weight": {w, w},
		"attn.out_proj.bias":   {w},
		"ln_2.weight":          {w},
		"ln_2.bias":            {w},
		"mlp.c_fc.weight":      {m, w},
		"mlp.c_fc.bias":        {m},
		"mlp.c_proj.weight":    {w, m},
		"mlp.c_proj.bias":      {w},
	}
}

// NewBlock takes the block's parameters from p, whose keys are pre + the keys of BlockShapes(width, ·);
// p must hold them all with those shapes (as Tensors guarantees).
func NewBlock(p map[string]*tensor.Tensor, pre string, width int, eps float32) Block {
	w := width
	in, inb := p[pre+"attn.in_proj_weight"], p[pre+"attn.in_proj_bias"]
	return Block{
		ln1: NewLayerNorm(p, pre+"ln_1.", eps),
		ln2: NewLayerNorm(p, pre+"ln_2.", eps),
		// Rows 0:W, W:2W, 2W:3W of the packed projection are q, k and v.
		qw: in.Narrow0(0, w), kw: in.Narrow0(w, 2*w), vw: in.Narrow0(2*w, 3*w),
		qb: inb.Narrow0(0, w), kb: inb.Narrow0(w, 2*w), vb: inb.Narrow0(2*w, 3*w),
		ow: p[pre+"attn.out_proj.weight"], ob: p[pre+"attn.out_proj.bias"],
		fcw: p[pre+"mlp.c_fc.weight"], fcb: p[pre+"mlp.c_fc.bias"],
		pw: p[pre+"mlp.c_proj.weight"], pb: p[pre+"mlp.c_proj.bias"],
	}
}

// Forward returns the block applied to x [B, N, width] with the given number of heads, MLP activation and
// attention options (causal for text; packed sequences with opt.Lens, x then being [1, Σ Lens, width]).
// It frees every intermediate; x stays the caller's. The residual adds and the MLP activation run fused
// into the products that precede them.
func (b *Block) Forward(be tensor.Backend, x *tensor.Tensor, heads int, act tensor.Act, opt tensor.AttnOpts) *tensor.Tensor {
	h := b.ln1.Apply(be, x)
	q, k, v := be.Linear(h, b.qw, b.qb), be.Linear(h, b.kw, b.kb), be.Linear(h, b.vw, b.vb)
	be.Free(h)
	a := be.Attention(q, k, v, heads, opt)
	be.Free(q)
	be.Free(k)
	be.Free(v)
	x = be.LinearAct(a, b.ow, b.ob, x, tensor.Identity)
	be.Free(a)

	h = b.ln2.Apply(be, x)
	g := be.LinearAct(h, b.fcw, b.fcb, nil, act)
	be.Free(h)
	out := be.LinearAct(g, b.pw, b.pb, x, tensor.Identity)
	be.Free(g)
	be.Free(x)
	return out
}
