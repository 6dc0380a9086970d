package textenc

import (
	"plp/tensor"
)

// layerNorm is a LayerNorm over the last dimension.
type layerNorm struct {
	w, b *tensor.Tensor
	eps  float32
}

func (n layerNorm) apply(be tensor.Backend, x *tensor.Tensor) *tensor.Tensor {
	return be.LayerNorm(x, n.w, n.b, n.eps)
}

// block is a pre-LN transformer block: x += attn(ln_1(x)); x += mlp(ln_2(x)).
type block struct {
	ln1, ln2   layerNorm
	qw, kw, vw *tensor.Tensor // row blocks of the packed in_proj_weight (views)
	qb, kb, vb *tensor.Tensor
	ow, ob     *tensor.Tensor
	fcw, fcb   *tensor.Tensor
	pw, pb     *tensor.Tensor
}

func newBlock(p map[string]*tensor.Tensor, pre string, c Config) block {
	w := c.Width
	in, inb := p[pre+"attn.in_proj_weight"], p[pre+"attn.in_proj_bias"]
	return block{
		ln1: layerNorm{p[pre+"ln_1.weight"], p[pre+"ln_1.bias"], c.LayerNormEps},
		ln2: layerNorm{p[pre+"ln_2.weight"], p[pre+"ln_2.bias"], c.LayerNormEps},
		// Rows 0:W, W:2W, 2W:3W of the packed projection are q, k and v.
		qw: in.Narrow0(0, w), kw: in.Narrow0(w, 2*w), vw: in.Narrow0(2*w, 3*w),
		qb: inb.Narrow0(0, w), kb: inb.Narrow0(w, 2*w), vb: inb.Narrow0(2*w, 3*w),
		ow: p[pre+"attn.out_proj.weight"], ob: p[pre+"attn.out_proj.bias"],
		fcw: p[pre+"mlp.c_fc.weight"], fcb: p[pre+"mlp.c_fc.bias"],
		pw: p[pre+"mlp.c_proj.weight"], pb: p[pre+"mlp.c_proj.bias"],
	}
}

func (b *block) forward(be tensor.Backend, x *tensor.Tensor, heads int, act tensor.Act, causal bool) *tensor.Tensor {
	h := b.ln1.apply(be, x)
	q, k, v := be.Linear(h, b.qw, b.qb), be.Linear(h, b.kw, b.kb), be.Linear(h, b.vw, b.vb)
	be.Free(h)
	a := be.Attention(q, k, v, heads, tensor.AttnOpts{Causal: causal})
	be.Free(q)
	be.Free(k)
	be.Free(v)
	o := be.Linear(a, b.ow, b.ob)
	be.Free(a)
	x = be.Add(x, o)
	be.Free(o)

	h = b.ln2.apply(be, x)
	f := be.Linear(h, b.fcw, b.fcb)
	be.Free(h)
	g := be.Activation(f, act)
	be.Free(f)
	o = be.Linear(g, b.pw, b.pb)
	be.Free(g)
	out := be.Add(x, o)
	be.Free(o)
	be.Free(x)
	return out
}
