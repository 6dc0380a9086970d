package tensor

// conv2DChannelsLast is Conv2DAct on channels-last tensors: depthwise convolutions have their own loop,
// the rest is dense.
func (c CPU) conv2DChannelsLast(x, w, bias, add *Tensor, p Conv, f Act, ho, wo int) *Tensor {
	epilogueGeom("Conv2DAct", add, f, []int{x.shape[0], ho, wo, w.shape[0]})
	if cin := x.shape[3]; p.Groups == cin && w.shape[0] == cin && w.shape[3] == 1 {
		return c.depthwiseChannelsLast(x, w, bias, add, p, f, ho, wo)
	}
	return c.denseChannelsLast(x, w, bias, add, p, f, ho, wo)
}

// denseChannelsLast runs a channels-last convolution through the channels-first one.
func (c CPU) denseChannelsLast(x, w, bias, add *Tensor, p Conv, f Act, ho, wo int) *Tensor {
	return c.viaChannelsFirst(x, w, bias, add, p, f)
}

// viaChannelsFirst computes a channels-last convolution by permuting to channels-first and back.
func (c CPU) viaChannelsFirst(x, w, bias, add *Tensor, p Conv, f Act) *Tensor {
	p.ChannelsLast = false
	y := c.Conv2D(c.Permute(x, 0, 3, 1, 2), c.Permute(w, 0, 3, 1, 2), bias, p)
	out := c.Permute(y, 0, 2, 3, 1)
	var ad []float32
	if add != nil {
		ad = host(add)
	}
	finishEpilogue(host(out), ad, f)
	return out
}

// pool2DChannelsLast pools channels-last x by permuting to channels-first and back.
func (c CPU) pool2DChannelsLast(x *Tensor, p Pool, ho, wo int) *Tensor {
	p.ChannelsLast = false
	y := c.Pool2D(c.Permute(x, 0, 3, 1, 2), p)
	return c.Permute(y, 0, 2, 3, 1)
}
