package layers

import "plp/tensor"

// ForwardValues is the block with its attention replaced by the value path, the way GL-MCM (after
// MaskCLIP) reads local features out of CLIP's last block: y = x + out_proj(v(ln_1(x))), then y +
// c_proj(act(c_fc(ln_2(y)))) as in Forward. Every row depends on itself alone, so x may hold any rows
// [..., width]; it stays the caller's.
func (b *Block) ForwardValues(be tensor.Backend, x *tensor.Tensor, act tensor.Act) *tensor.Tensor {
	h := b.ln1.Apply(be, x)
	v := be.Linear(h, b.vw, b.vb)
	be.Free(h)
	y := be.LinearAct(v, b.ow, b.ob, x, tensor.Identity)
	be.Free(v)
	h = b.ln2.Apply(be, y)
	g := be.LinearAct(h, b.fcw, b.fcb, nil, act)
	be.Free(h)
	out := be.LinearAct(g, b.pw, b.pb, y, tensor.Identity)
	be.Free(g)
	be.Free(y)
	return out
}
