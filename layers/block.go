package layers

import (
	"fmt"

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

// ForwardRows is Forward evaluated at one row per sequence only, [len(rows), width]: the keys and values
// still come from every row, but the queries, the output projection and the MLP run on the chosen rows
// alone. That is exact, since everything but attention acts on each row by itself, and it is how a
// pooling model (class token, end-of-text token) skips most of its last block. x is [S, N, width] (S
// sequences of N rows) or, with opt.Lens, packed [1, Σ Lens, width]; rows[s] is the row within sequence s.
// With opt.Causal a row sees the keys up to itself. rows must be in range; a bias (opt.Bias) falls back
// to the whole block.
func (b *Block) ForwardRows(be tensor.Backend, x *tensor.Tensor, rows []int, heads int, act tensor.Act, opt tensor.AttnOpts) *tensor.Tensor {
	W := x.Dim(-1)
	lens := opt.Lens
	if lens == nil {
		lens = make([]int, x.Dim(0))
		for s := range lens {
			lens[s] = x.Dim(1)
		}
	}
	if len(rows) != len(lens) {
		panic(fmt.Sprintf("layers: ForwardRows with %d rows for %d sequences", len(rows), len(lens)))
	}
	// at[s] is the row's place in x seen as [Σ lens, W]; keys[s] how many keys it sees.
	at, keys := make([]int, len(rows)), make([]int, len(rows))
	off, uniform := 0, true
	for s, r := range rows {
		if r < 0 || r >= lens[s] {
			panic(fmt.Sprintf("layers: ForwardRows row %d of a sequence of %d", r, lens[s]))
		}
		at[s], keys[s] = off+r, lens[s]
		if opt.Causal {
			keys[s] = r + 1
		}
		uniform = uniform && keys[s] == lens[0] && lens[s] == lens[0]
		off += lens[s]
	}
	flat := x.Reshape(off, W)
	if opt.Bias != nil {
		full := b.Forward(be, x, heads, act, opt)
		out := be.Gather(full.Reshape(off, W), at)
		be.Free(full)
		return out
	}

	h := b.ln1.Apply(be, flat)
	k, v := be.Linear(h, b.kw, b.kb), be.Linear(h, b.vw, b.vb)
	hq := be.Gather(h, at)
	be.Free(h)
	q := be.Linear(hq, b.qw, b.qb)
	be.Free(hq)
	S := len(rows)
	var a *tensor.Tensor
	if uniform {
		// Every row sees its whole sequence, all of one length: one batched call.
		n := lens[0]
		a = be.Attention(q.Reshape(S, 1, W), k.Reshape(S, n, W), v.Reshape(S, n, W), heads, tensor.AttnOpts{})
	} else {
		parts := make([]*tensor.Tensor, S)
		off = 0
		for s := range rows {
			ks, vs := be.Slice(k, 0, off, off+keys[s]), be.Slice(v, 0, off, off+keys[s])
			qs := be.Slice(q, 0, s, s+1)
			parts[s] = be.Attention(qs.Reshape(1, 1, W), ks.Reshape(1, keys[s], W), vs.Reshape(1, keys[s], W), heads, tensor.AttnOpts{})
			be.Free(qs)
			be.Free(ks)
			be.Free(vs)
			off += lens[s]
		}
		a = be.Concat(0, parts...)
		for _, p := range parts {
			be.Free(p)
		}
	}
	be.Free(q)
	be.Free(k)
	be.Free(v)
	xr := be.Gather(flat, at)
	y := be.LinearAct(a.Reshape(S, W), b.ow, b.ob, xr, tensor.Identity)
	be.Free(a)
	be.Free(xr)

	h = b.ln2.Apply(be, y)
	g := be.LinearAct(h, b.fcw, b.fcb, nil, act)
	be.Free(h)
	out := be.LinearAct(g, b.pw, b.pb, y, tensor.Identity)
	be.Free(g)
	be.Free(y)
	return out
}
