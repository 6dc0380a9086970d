package tensor

// depthwiseChannelsLast is a channels-last depthwise convolution: w is [C, kh, kw, 1].
func (c CPU) depthwiseChannelsLast(x, w, bias, add *Tensor, p Conv, f Act, ho, wo int) *Tensor {
	return c.viaChannelsFirst(x, w, bias, add, p, f)
}
