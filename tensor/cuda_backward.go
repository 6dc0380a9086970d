package tensor

// The backward operations run on the host: they serve fine-tuning, where the forward ops dominate, and a
// host round trip keeps them exactly the CPU backend's arithmetic until device kernels replace them.

// LayerNormBackward implements Backend.
func (c *CUDA) LayerNormBackward(x, w, dy *Tensor, eps float32) (dx, dw, db *Tensor) {
	defer c.enter()()
	in := c.toCPU(x, w, dy)
	dx, dw, db = CPU{}.LayerNormBackward(in[0], in[1], in[2], eps)
	return c.fromCPU(dx), c.fromCPU(dw), c.fromCPU(db)
}

// ActivationBackward implements Backend.
func (c *CUDA) ActivationBackward(x, dy *Tensor, f Act) *Tensor {
	defer c.enter()()
	in := c.toCPU(x, dy)
	return c.fromCPU(CPU{}.ActivationBackward(in[0], in[1], f))
}

// SoftmaxBackward implements Backend.
func (c *CUDA) SoftmaxBackward(y, dy *Tensor) *Tensor {
	defer c.enter()()
	in := c.toCPU(y, dy)
	return c.fromCPU(CPU{}.SoftmaxBackward(in[0], in[1]))
}

// L2NormalizeBackward implements Backend.
func (c *CUDA) L2NormalizeBackward(x, dy *Tensor, eps float32) *Tensor {
	defer c.enter()()
	in := c.toCPU(x, dy)
	return c.fromCPU(CPU{}.L2NormalizeBackward(in[0], in[1], eps))
}

// AttentionBackward implements Backend.
func (c *CUDA) AttentionBackward(q, k, v, dy *Tensor, heads int, opt AttnOpts) (dq, dk, dv *Tensor) {
	defer c.enter()()
	in := c.toCPU(q, k, v, dy, opt.Bias)
	dq, dk, dv = CPU{}.AttentionBackward(in[0], in[1], in[2], in[3], heads, AttnOpts{Causal: opt.Causal, Bias: in[4]})
	return c.fromCPU(dq), c.fromCPU(dk), c.fromCPU(dv)
}

// Conv2DBackward implements Backend.
func (c *CUDA) Conv2DBackward(x, w, dy *Tensor, p Conv) (dx, dw, db *Tensor) {
	defer c.enter()()
	in := c.toCPU(x, w, dy)
	dx, dw, db = CPU{}.Conv2DBackward(in[0], in[1], in[2], p)
	return c.fromCPU(dx), c.fromCPU(dw), c.fromCPU(db)
}

// Pool2DBackward implements Backend.
func (c *CUDA) Pool2DBackward(x, dy *Tensor, p Pool) *Tensor {
	defer c.enter()()
	in := c.toCPU(x, dy)
	return c.fromCPU(CPU{}.Pool2DBackward(in[0], in[1], p))
}

// ScatterAddRows implements Backend.
func (c *CUDA) ScatterAddRows(src *Tensor, idx []int, rows int) *Tensor {
	defer c.enter()()
	return c.fromCPU(CPU{}.ScatterAddRows(c.toCPU(src)[0], idx, rows))
}

// SumTo implements Backend.
func (c *CUDA) SumTo(x *Tensor, shape ...int) *Tensor {
	defer c.enter()()
	return c.fromCPU(CPU{}.SumTo(c.toCPU(x)[0], shape...))
}
