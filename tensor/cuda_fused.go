package tensor

// The CUDA backend composes the fused and channels-last operations from its plain kernels: cuBLAS does
// the products, and the extra passes are cheap next to them on a GPU.

// LinearAct implements Backend.
func (c *CUDA) LinearAct(x, w, bias, add *Tensor, f Act) *Tensor {
	y := c.Linear(x, w, bias)
	epilogueGeom("LinearAct", add, f, y.shape)
	c.epilogue(y, add, f)
	return y
}

// Conv2DAct implements Backend.
func (c *CUDA) Conv2DAct(x, w, bias, add *Tensor, p Conv, f Act) *Tensor {
	y := c.Conv2D(x, w, bias, p)
	epilogueGeom("Conv2DAct", add, f, y.shape)
	c.epilogue(y, add, f)
	return y
}

// epilogue sets y = f(y + add) in place.
func (c *CUDA) epilogue(y, add *Tensor, f Act) {
	if add == nil && f == Identity {
		return
	}
	defer c.enter()()
	if add != nil {
		c.binaryInto(y, y, add, 0)
	}
	if f != Identity && y.Numel() > 0 {
		c.launch1D("plp_unary", y.Numel(), c.ptr(y), c.ptr(y), y.Numel(), int(f)+1, float32(0), float32(0))
	}
}

// conv2DChannelsLast runs a channels-last convolution through the channels-first kernels.
func (c *CUDA) conv2DChannelsLast(x, w, bias *Tensor, p Conv) *Tensor {
	p.ChannelsLast = false
	xn, wn := c.Permute(x, 0, 3, 1, 2), c.Permute(w, 0, 3, 1, 2)
	y := c.Conv2D(xn, wn, bias, p)
	c.Free(xn)
	c.Free(wn)
	out := c.Permute(y, 0, 2, 3, 1)
	c.Free(y)
	return out
}

// pool2DChannelsLast runs a channels-last pooling through the channels-first kernel.
func (c *CUDA) pool2DChannelsLast(x *Tensor, p Pool) *Tensor {
	p.ChannelsLast = false
	xn := c.Permute(x, 0, 3, 1, 2)
	y := c.Pool2D(xn, p)
	c.Free(xn)
	out := c.Permute(y, 0, 2, 3, 1)
	c.Free(y)
	return out
}

// attentionPacked runs Attention on sequences packed back to back (opt.Lens), one sequence at a time.
func (c *CUDA) attentionPacked(q, k, v *Tensor, heads int, opt AttnOpts) *Tensor {
	packedGeom(q, k, opt)
	parts := make([]*Tensor, len(opt.Lens))
	off := 0
	for i, n := range opt.Lens {
		qs, ks, vs := c.Slice(q, 1, off, off+n), c.Slice(k, 1, off, off+n), c.Slice(v, 1, off, off+n)
		parts[i] = c.Attention(qs, ks, vs, heads, AttnOpts{Causal: opt.Causal})
		c.Free(qs)
		c.Free(ks)
		c.Free(vs)
		off += n
	}
	out := c.Concat(1, parts...)
	for _, t := range parts {
		c.Free(t)
	}
	return out
}
