package tensor

import "fmt"

// This file holds the shape checks and output geometry that the CPU and CUDA backends share, so that both
// accept exactly the same calls and panic with the same messages.

func normAxis(axis, rank int) int {
	if axis < 0 {
		axis += rank
	}
	if axis < 0 || axis >= rank {
		panic(fmt.Sprintf("tensor: axis %d out of range for rank %d", axis, rank))
	}
	return axis
}

// contiguousStrides returns the row-major strides of shape, in elements.
func contiguousStrides(shape []int) []int {
	st := make([]int, len(shape))
	s := 1
	for i := len(shape) - 1; i >= 0; i-- {
		st[i] = s
		s *= shape[i]
	}
	return st
}

func convOut(in, k, stride, pad int) int { return (in+2*pad-k)/stride + 1 }

// convDims returns the input channels, height and width of x and the kernel height, width and input
// channels per group of w, in either layout.
func convDims(x, w *Tensor, channelsLast bool) (cin, h, wd, kh, kw, cpg int) {
	if channelsLast {
		return x.shape[3], x.shape[1], x.shape[2], w.shape[1], w.shape[2], w.shape[3]
	}
	return x.shape[1], x.shape[2], x.shape[3], w.shape[2], w.shape[3], w.shape[1]
}

// convGeom fills p's defaults (one group, unit strides) and returns the output height and width of
// convolving x [B, Cin, H, W] with w [Cout, Cin/Groups, KH, KW] (or the channels-last forms). It panics,
// naming op, unless both are rank 4 and the channels split into p.Groups groups.
func convGeom(op string, x, w *Tensor, p *Conv) (ho, wo int) {
	if p.Groups == 0 {
		p.Groups = 1
	}
	if p.StrideH == 0 {
		p.StrideH = 1
	}
	if p.StrideW == 0 {
		p.StrideW = 1
	}
	if x.Rank() != 4 || w.Rank() != 4 {
		panic(fmt.Sprintf("tensor: %s of %v with weight %v", op, x.shape, w.shape))
	}
	if p.ChannelsLast && op != "Conv2D" {
		panic(fmt.Sprintf("tensor: %s takes channels-first tensors only", op))
	}
	cin, h, wd, kh, kw, cpg := convDims(x, w, p.ChannelsLast)
	cout, g := w.shape[0], p.Groups
	if cin%g != 0 || cout%g != 0 || cpg != cin/g {
		panic(fmt.Sprintf("tensor: %s of %v with weight %v, groups %d", op, x.shape, w.shape, g))
	}
	return convOut(h, kh, p.StrideH, p.PadH), convOut(wd, kw, p.StrideW, p.PadW)
}

// conv2DGeom is convGeom for Conv2D, which also needs a bias of Cout elements (or none) and a non-empty
// output.
func conv2DGeom(x, w, bias *Tensor, p *Conv) (ho, wo int) {
	ho, wo = convGeom("Conv2D", x, w, p)
	if bias != nil && bias.Numel() != w.shape[0] {
		panic(fmt.Sprintf("tensor: Conv2D of %v with weight %v, groups %d", x.shape, w.shape, p.Groups))
	}
	if ho <= 0 || wo <= 0 {
		_, _, _, kh, kw, _ := convDims(x, w, p.ChannelsLast)
		panic(fmt.Sprintf("tensor: Conv2D output of %v with kernel %dx%d is empty", x.shape, kh, kw))
	}
	return ho, wo
}

// epilogueGeom checks the operands of the fused step y = f(y + add) on a result of shape out.
func epilogueGeom(op string, add *Tensor, f Act, out []int) {
	if add != nil && !SameShape(add.shape, out) {
		panic(fmt.Sprintf("tensor: %s: add %v, want the result's shape %v", op, add.shape, out))
	}
	if f < GELU || f > Identity {
		panic(fmt.Sprintf("tensor: %s: unknown activation %d", op, f))
	}
}

// poolGeom fills p's default strides (the kernel size) and returns the output height and width of
// pooling x [B, C, H, W]. It panics, naming op, unless x is rank 4 and the kernel is not empty.
func poolGeom(op string, x *Tensor, p *Pool) (ho, wo int) {
	if p.StrideH == 0 {
		p.StrideH = p.KH
	}
	if p.StrideW == 0 {
		p.StrideW = p.KW
	}
	if x.Rank() != 4 || p.KH <= 0 || p.KW <= 0 {
		panic(fmt.Sprintf("tensor: %s of %v with kernel %dx%d", op, x.shape, p.KH, p.KW))
	}
	if p.ChannelsLast && op != "Pool2D" {
		panic(fmt.Sprintf("tensor: %s takes channels-first tensors only", op))
	}
	h, w := x.shape[2], x.shape[3]
	if p.ChannelsLast {
		h, w = x.shape[1], x.shape[2]
	}
	return convOut(h, p.KH, p.StrideH, p.PadH), convOut(w, p.KW, p.StrideW, p.PadW)
}

// permuteGeom checks that perm is a permutation of x's dims and returns the output shape and, for each
// output dim, its stride in (contiguous) x.
func permuteGeom(x *Tensor, perm []int) (outShape, strides []int) {
	r := x.Rank()
	if len(perm) != r {
		panic(fmt.Sprintf("tensor: Permute %v of %v", perm, x.shape))
	}
	in := contiguousStrides(x.shape)
	outShape, strides = make([]int, r), make([]int, r)
	seen := make([]bool, r)
	for i, p := range perm {
		if p < 0 || p >= r || seen[p] {
			panic(fmt.Sprintf("tensor: Permute %v is not a permutation", perm))
		}
		seen[p] = true
		outShape[i] = x.shape[p]
		strides[i] = in[p]
	}
	return outShape, strides
}

// concatGeom normalizes axis, checks that ts agree in rank and in every dim but axis, and returns the
// output shape with the number of rows (the product of the dims before axis) and the elements after axis.
func concatGeom(axis int, ts []*Tensor) (ax int, outShape []int, outer, inner int) {
	if len(ts) == 0 {
		panic("tensor: Concat of nothing")
	}
	r := ts[0].Rank()
	axis = normAxis(axis, r)
	outShape = append([]int(nil), ts[0].shape...)
	outShape[axis] = 0
	for _, t := range ts {
		if t.Rank() != r {
			panic(fmt.Sprintf("tensor: Concat of ranks %d and %d", r, t.Rank()))
		}
		for d := 0; d < r; d++ {
			if d != axis && t.shape[d] != ts[0].shape[d] {
				panic(fmt.Sprintf("tensor: Concat along %d of %v and %v", axis, ts[0].shape, t.shape))
			}
		}
		outShape[axis] += t.shape[axis]
	}
	return axis, outShape, Numel(outShape[:axis]), Numel(outShape[axis+1:])
}

// sliceGeom normalizes axis, checks 0 <= start <= end <= the axis' size, and returns the output shape
// with the number of rows (the product of the dims before axis) and the elements after axis.
func sliceGeom(x *Tensor, axis, start, end int) (ax int, outShape []int, outer, inner int) {
	axis = normAxis(axis, x.Rank())
	if start < 0 || end > x.shape[axis] || start > end {
		panic(fmt.Sprintf("tensor: Slice [%d,%d) on axis %d of %v", start, end, axis, x.shape))
	}
	outShape = append([]int(nil), x.shape...)
	outShape[axis] = end - start
	return axis, outShape, Numel(x.shape[:axis]), Numel(x.shape[axis+1:])
}

// packedGeom checks Attention's packed-sequence form: q and k [1, Σ Lens, D], positive lengths, no bias.
func packedGeom(q, k *Tensor, opt AttnOpts) {
	total := 0
	for _, n := range opt.Lens {
		if n <= 0 {
			panic(fmt.Sprintf("tensor: Attention sequence length %d in %v", n, opt.Lens))
		}
		total += n
	}
	if q.shape[0] != 1 || q.shape[1] != total || k.shape[1] != total || opt.Bias != nil {
		panic(fmt.Sprintf("tensor: Attention of q %v k %v packing lengths %v (bias %v): want [1 %d D] and no bias", q.shape, k.shape, opt.Lens, opt.Bias != nil, total))
	}
}
