package tensor

import (
	"fmt"
	"math"

	"plp/kernels/cuda"
)

// maxKernelRank is how many dimensions plp_copy and plp_binary index (after coalescing).
const maxKernelRank = 6

// stridedMeta packs dims (outermost first) and, per operand, element strides into the kernels' word
// layout: dims innermost first padded with 1, then each stride set padded with 0. Dims of size 1 are
// dropped and neighbours that are contiguous in every operand merge, so most shapes fit in six dims.
func stridedMeta(dims []int, strides ...[]int) ([]uint32, bool) {
	var d []int
	s := make([][]int, len(strides))
	for i, n := range dims {
		if n == 1 {
			continue
		}
		if len(d) > 0 {
			last := len(d) - 1
			merge := true
			for k := range strides {
				if s[k][last] != strides[k][i]*n {
					merge = false
					break
				}
			}
			if merge {
				d[last] *= n
				for k := range strides {
					s[k][last] = strides[k][i]
				}
				continue
			}
		}
		d = append(d, n)
		for k := range strides {
			s[k] = append(s[k], strides[k][i])
		}
	}
	if len(d) > maxKernelRank {
		return nil, false
	}
	w := make([]uint32, maxKernelRank*(1+len(strides)))
	for i := 0; i < maxKernelRank; i++ {
		w[i] = 1
	}
	for i := range d {
		j := len(d) - 1 - i // innermost first
		w[i] = uint32(d[j])
		for k := range strides {
			w[maxKernelRank*(1+k)+i] = uint32(s[k][j])
		}
	}
	return w, true
}

// MatMul implements Backend. Row-major C = op(A)·op(B) is column-major Cᵀ = op(B)ᵀ·op(A)ᵀ, so cuBLAS gets
// the operands swapped.
func (c *CUDA) MatMul(a, b *Tensor, transA, transB bool) *Tensor {
	if a.Rank() < 2 || b.Rank() < 2 {
		panic(fmt.Sprintf("tensor: MatMul of %v and %v", a.shape, b.shape))
	}
	m, k := a.Dim(-2), a.Dim(-1)
	if transA {
		m, k = k, m
	}
	kb, n := b.Dim(-2), b.Dim(-1)
	if transB {
		kb, n = n, kb
	}
	batch := Numel(a.shape[:a.Rank()-2])
	shared := b.Rank() == 2
	if kb != k || (!shared && !SameShape(a.shape[:a.Rank()-2], b.shape[:b.Rank()-2])) {
		panic(fmt.Sprintf("tensor: MatMul of %v and %v (transA %v transB %v)", a.shape, b.shape, transA, transB))
	}
	defer c.enter()()
	out := c.alloc(append(append([]int(nil), a.shape[:a.Rank()-2]...), m, n)...)
	opA, lda := cuda.NoTrans, k
	if transA {
		opA, lda = cuda.Trans, m
	}
	opB, ldb := cuda.NoTrans, n
	if transB {
		opB, ldb = cuda.Trans, k
	}
	strideB := k * n
	if shared {
		strideB = 0
	}
	if batch > 0 && m > 0 && n > 0 {
		must("MatMul", c.blas.SgemmStridedBatched(opB, opA, n, m, k, 1, c.ptr(b), ldb, strideB, c.ptr(a), lda, m*k,
			0, c.ptr(out), n, m*n, batch))
	}
	return out
}

// Linear implements Backend: y[M,out] = x[M,in]·wᵀ, then the bias row added in place.
func (c *CUDA) Linear(x, w, bias *Tensor) *Tensor {
	in := x.Dim(-1)
	if w.Rank() != 2 || w.shape[1] != in || (bias != nil && bias.Numel() != w.shape[0]) {
		panic(fmt.Sprintf("tensor: Linear of %v with weight %v", x.shape, w.shape))
	}
	outF := w.shape[0]
	rows := x.Numel() / max(in, 1)
	defer c.enter()()
	shape := append(append([]int(nil), x.shape[:x.Rank()-1]...), outF)
	y := c.alloc(shape...)
	if rows > 0 {
		must("Linear", c.blas.Sgemm(cuda.Trans, cuda.NoTrans, outF, rows, in, 1, c.ptr(w), in, c.ptr(x), in, 0, c.ptr(y), outF))
	}
	if bias != nil {
		c.binaryInto(y, y, bias.Reshape(outF), 0)
	}
	return y
}

// binaryInto writes y = a op b (op 0 add, 1 sub, 2 mul) with b broadcast onto a; y may be a. The caller
// holds the stream.
func (c *CUDA) binaryInto(y, a, b *Tensor, op int) {
	p := planBroadcast("binary", a.shape, b.shape)
	meta, ok := stridedMeta(a.shape, p.bStrides)
	if !ok {
		panic(fmt.Sprintf("tensor: broadcasting %v onto %v needs more than %d dims on cuda", b.shape, a.shape, maxKernelRank))
	}
	c.launch1D("plp_binary", a.Numel(), c.ptr(y), c.ptr(a), c.ptr(b), a.Numel(), op, meta)
}

func (c *CUDA) binary(a, b *Tensor, op int) *Tensor {
	defer c.enter()()
	y := c.alloc(a.shape...)
	c.binaryInto(y, a, b, op)
	return y
}

// Add implements Backend.
func (c *CUDA) Add(a, b *Tensor) *Tensor { return c.binary(a, b, 0) }

// Sub implements Backend.
func (c *CUDA) Sub(a, b *Tensor) *Tensor { return c.binary(a, b, 1) }

// Mul implements Backend.
func (c *CUDA) Mul(a, b *Tensor) *Tensor { return c.binary(a, b, 2) }

func (c *CUDA) unary(a *Tensor, op int, s, k float32) *Tensor {
	defer c.enter()()
	y := c.alloc(a.shape...)
	c.launch1D("plp_unary", a.Numel(), c.ptr(y), c.ptr(a), a.Numel(), op, s, k)
	return y
}

// Scale implements Backend.
func (c *CUDA) Scale(a *Tensor, s, k float32) *Tensor { return c.unary(a, 0, s, k) }

// Activation implements Backend; plp_unary numbers the activations from 1 in Act's order.
func (c *CUDA) Activation(a *Tensor, f Act) *Tensor {
	if f == Identity {
		return c.unary(a, 0, 1, 0)
	}
	if f < GELU || f > Exp {
		panic(fmt.Sprintf("tensor: unknown activation %d", f))
	}
	return c.unary(a, int(f)+1, 0, 0)
}

// optPtr is t's address, or 0 for nil (the kernels' "absent").
func (c *CUDA) optPtr(t *Tensor) cuda.DevicePtr {
	if t == nil {
		return 0
	}
	return c.ptr(t)
}

// LayerNorm implements Backend.
func (c *CUDA) LayerNorm(x, w, b *Tensor, eps float32) *Tensor {
	rows, n := rowsOf(x)
	if (w != nil && w.Numel() != n) || (b != nil && b.Numel() != n) {
		panic(fmt.Sprintf("tensor: LayerNorm of %v with weight/bias of the wrong size", x.shape))
	}
	defer c.enter()()
	y := c.alloc(x.shape...)
	c.launchRows("plp_layernorm", rows, c.ptr(y), c.ptr(x), c.optPtr(w), c.optPtr(b), n, eps)
	return y
}

// Softmax implements Backend.
func (c *CUDA) Softmax(x *Tensor) *Tensor {
	rows, n := rowsOf(x)
	defer c.enter()()
	y := c.alloc(x.shape...)
	c.launchRows("plp_softmax", rows, c.ptr(y), c.ptr(x), n)
	return y
}

// L2Normalize implements Backend.
func (c *CUDA) L2Normalize(x *Tensor, eps float32) *Tensor {
	rows, n := rowsOf(x)
	defer c.enter()()
	y := c.alloc(x.shape...)
	c.launchRows("plp_l2norm", rows, c.ptr(y), c.ptr(x), n, eps)
	return y
}

// attnMaxHeadDim is the widest head the attention kernels take (four features per lane).
const attnMaxHeadDim = 128

// attnKernel is the attention kernel in use: plp_attention_kp scores 32 keys per warp step; plp_attention
// (one key per step, the whole warp reducing each dot product) is the simpler reference with the same
// contract, tested against it in kernels/cuda.
const attnKernel = "plp_attention_kp"

// Attention implements Backend: one warp per (batch, head, query), online softmax over key tiles.
func (c *CUDA) Attention(q, k, v *Tensor, heads int, opt AttnOpts) *Tensor {
	if q.Rank() != 3 || k.Rank() != 3 || v.Rank() != 3 || !SameShape(k.shape, v.shape) ||
		q.shape[0] != k.shape[0] || q.shape[2] != k.shape[2] || heads <= 0 || q.shape[2]%heads != 0 {
		panic(fmt.Sprintf("tensor: Attention of q %v k %v v %v with %d heads", q.shape, k.shape, v.shape, heads))
	}
	if opt.Lens != nil {
		return c.attentionPacked(q, k, v, heads, opt)
	}
	B, nq, D := q.shape[0], q.shape[1], q.shape[2]
	nk := k.shape[1]
	hd := D / heads
	if opt.Bias != nil && !SameShape(opt.Bias.shape, []int{heads, nq, nk}) {
		panic(fmt.Sprintf("tensor: Attention bias %v, want [%d %d %d]", opt.Bias.shape, heads, nq, nk))
	}
	defer c.enter()()
	if hd > attnMaxHeadDim || B > 65535 || heads > 65535 {
		in := c.toCPU(q, k, v, opt.Bias)
		return c.fromCPU(CPU{}.Attention(in[0], in[1], in[2], heads, AttnOpts{Causal: opt.Causal, Bias: in[3]}))
	}
	o := c.alloc(B, nq, D)
	if o.Numel() == 0 {
		return o
	}
	if c.gemmAttention && nk > 0 {
		c.attentionGEMM(o, q, k, v, heads, opt)
		return o
	}
	causal := uint32(0)
	if opt.Causal {
		causal = 1
	}
	meta := []uint32{uint32(nq), uint32(nk), uint32(heads), uint32(hd), causal}
	scale := float32(1 / math.Sqrt(float64(hd)))
	must("Attention", c.k.Get(attnKernel).Launch(cuda.Dim3{X: (nq + 3) / 4, Y: heads, Z: B}, cuda.Dim3{X: 128, Y: 1, Z: 1}, 0,
		c.ptr(o), c.ptr(q), c.ptr(k), c.ptr(v), c.optPtr(opt.Bias), scale, meta))
	return o
}

// attnScoreChunk bounds the scores attentionGEMM keeps at once (floats), so large batches run in pieces.
const attnScoreChunk = 128 << 20

// attentionGEMM is Attention through tensor-core GEMMs, for TF32 or bf16 precision: per image and head,
// S = Q·Kᵀ/√hd (+ bias, + a -inf mask above the diagonal when causal), a row softmax of S, then O = P·V.
// Unlike the fused kernel it stores the scores of a chunk of images (heads·Nq·Nk floats each), trading
// memory for the GEMMs' throughput. The caller holds the stream.
func (c *CUDA) attentionGEMM(o, q, k, v *Tensor, heads int, opt AttnOpts) {
	B, nq, D := q.shape[0], q.shape[1], q.shape[2]
	nk := k.shape[1]
	hd := D / heads
	per := max(1, attnScoreChunk/max(heads*nq*nk, 1))
	s := c.alloc(min(per, B), heads, nq, nk)
	defer c.Free(s)
	var mask *Tensor
	if opt.Causal {
		m := make([]float32, nq*nk)
		for i := 0; i < nq; i++ {
			for j := i + 1; j < nk; j++ {
				m[i*nk+j] = float32(math.Inf(-1))
			}
		}
		mask = c.alloc(nq, nk)
		defer c.Free(mask)
		must("Attention", c.ctx.Upload(c.ptr(mask), m))
	}
	scale := float32(1 / math.Sqrt(float64(hd)))
	f := func(p cuda.DevicePtr, elems int) cuda.DevicePtr { return p + cuda.DevicePtr(4*elems) }
	for b0 := 0; b0 < B; b0 += per {
		nb := min(per, B-b0)
		sv := s.Narrow0(0, nb)
		for i := 0; i < nb; i++ {
			b := b0 + i
			// S_h[nq, nk] = scale · Q_h[nq, hd] · K_h[nk, hd]ᵀ, heads hd apart in the rows of q and k
			must("Attention", c.blas.SgemmStridedBatched(cuda.Trans, cuda.NoTrans, nk, nq, hd, scale,
				f(c.ptr(k), b*nk*D), D, hd, f(c.ptr(q), b*nq*D), D, hd, 0, f(c.ptr(sv), i*heads*nq*nk), nk, nq*nk, heads))
		}
		if opt.Bias != nil {
			c.binaryInto(sv, sv, opt.Bias, 0)
		}
		if mask != nil {
			c.binaryInto(sv, sv, mask, 0)
		}
		c.launchRows("plp_softmax", nb*heads*nq, c.ptr(sv), c.ptr(sv), nk)
		for i := 0; i < nb; i++ {
			b := b0 + i
			// O_h[nq, hd] = P_h[nq, nk] · V_h[nk, hd]
			must("Attention", c.blas.SgemmStridedBatched(cuda.NoTrans, cuda.NoTrans, hd, nq, nk, 1,
				f(c.ptr(v), b*nk*D), D, hd, f(c.ptr(sv), i*heads*nq*nk), nk, nq*nk, 0, f(c.ptr(o), b*nq*D), D, hd, heads))
		}
	}
}

// im2colChunk bounds the column buffer of one Conv2D step (floats), so large batches run in pieces.
const im2colChunk = 64 << 20

// Conv2D implements Backend: groups == 1 lowers to im2col + one SGEMM per image; grouped and depthwise
// convolutions run plp_conv_direct.
func (c *CUDA) Conv2D(x, w, bias *Tensor, p Conv) *Tensor {
	ho, wo := conv2DGeom(x, w, bias, &p)
	if p.ChannelsLast {
		return c.conv2DChannelsLast(x, w, bias, p)
	}
	B, cin, H, W := x.shape[0], x.shape[1], x.shape[2], x.shape[3]
	cout, kh, kw := w.shape[0], w.shape[2], w.shape[3]
	g := p.Groups
	defer c.enter()()
	y := c.alloc(B, cout, ho, wo)
	if g != 1 {
		meta := []uint32{uint32(cin), uint32(H), uint32(W), uint32(kh), uint32(kw), uint32(p.StrideH), uint32(p.StrideW),
			uint32(p.PadH), uint32(p.PadW), uint32(ho), uint32(wo), uint32(cout), uint32(g)}
		c.launch1D("plp_conv_direct", y.Numel(), c.ptr(y), c.ptr(x), c.ptr(w), c.optPtr(bias), y.Numel(), meta)
		return y
	}
	K, L := cin*kh*kw, ho*wo
	per := max(1, im2colChunk/max(K*L, 1))
	cols := c.alloc(min(per, B) * K * L)
	defer c.Free(cols)
	meta := []uint32{uint32(cin), uint32(H), uint32(W), uint32(kh), uint32(kw), uint32(p.StrideH), uint32(p.StrideW),
		uint32(p.PadH), uint32(p.PadW), uint32(ho), uint32(wo)}
	for b0 := 0; b0 < B; b0 += per {
		nb := min(per, B-b0)
		c.launch1D("plp_im2col", nb*K*L, c.ptr(cols), c.ptr(x)+cuda.DevicePtr(4*b0*cin*H*W), nb*K*L, meta)
		// out_b[cout, L] = w[cout, K] · cols_b[K, L] for each image of the chunk
		must("Conv2D", c.blas.SgemmStridedBatched(cuda.NoTrans, cuda.NoTrans, L, cout, K, 1, c.ptr(cols), L, K*L,
			c.ptr(w), K, 0, 0, c.ptr(y)+cuda.DevicePtr(4*b0*cout*L), L, cout*L, nb))
	}
	if bias != nil {
		c.binaryInto(y, y, bias.Reshape(cout, 1, 1), 0)
	}
	return y
}

// Pool2D implements Backend.
func (c *CUDA) Pool2D(x *Tensor, p Pool) *Tensor {
	ho, wo := poolGeom("Pool2D", x, &p)
	if p.ChannelsLast {
		return c.pool2DChannelsLast(x, p)
	}
	B, C, H, W := x.shape[0], x.shape[1], x.shape[2], x.shape[3]
	if ho <= 0 || wo <= 0 {
		panic(fmt.Sprintf("tensor: Pool2D output of %v with kernel %dx%d is empty", x.shape, p.KH, p.KW))
	}
	defer c.enter()()
	y := c.alloc(B, C, ho, wo)
	kind := uint32(0)
	if p.Kind == MaxPool {
		kind = 1
	}
	meta := []uint32{uint32(H), uint32(W), uint32(p.KH), uint32(p.KW), uint32(p.StrideH), uint32(p.StrideW),
		uint32(p.PadH), uint32(p.PadW), uint32(ho), uint32(wo), kind}
	c.launch1D("plp_pool", y.Numel(), c.ptr(y), c.ptr(x), y.Numel(), meta)
	return y
}

// copyInto queues dst[dstStrides·i] = src[srcStrides·i] over dims. The caller holds the stream.
func (c *CUDA) copyInto(dst, src cuda.DevicePtr, dims, srcStrides, dstStrides []int) {
	n := Numel(dims)
	meta, ok := stridedMeta(dims, srcStrides, dstStrides)
	if !ok {
		panic(fmt.Sprintf("tensor: strided copy over %v needs more than %d dims on cuda", dims, maxKernelRank))
	}
	c.launch1D("plp_copy", n, dst, src, n, meta)
}

// Permute implements Backend.
func (c *CUDA) Permute(x *Tensor, perm ...int) *Tensor {
	outShape, src := permuteGeom(x, perm)
	defer c.enter()()
	y := c.alloc(outShape...)
	c.copyInto(c.ptr(y), c.ptr(x), outShape, src, contiguousStrides(outShape))
	return y
}

// Concat implements Backend: each part is a strided copy into its column range of the output rows.
func (c *CUDA) Concat(axis int, ts ...*Tensor) *Tensor {
	axis, outShape, outer, inner := concatGeom(axis, ts)
	rowOut := outShape[axis] * inner
	defer c.enter()()
	y := c.alloc(outShape...)
	pos := 0
	for _, t := range ts {
		n := t.shape[axis] * inner
		if n > 0 && outer > 0 {
			c.copyInto(c.ptr(y)+cuda.DevicePtr(4*pos), c.ptr(t), []int{outer, n}, []int{n, 1}, []int{rowOut, 1})
		}
		pos += n
	}
	return y
}

// Slice implements Backend.
func (c *CUDA) Slice(x *Tensor, axis, start, end int) *Tensor {
	axis, outShape, outer, inner := sliceGeom(x, axis, start, end)
	n := (end - start) * inner
	defer c.enter()()
	y := c.alloc(outShape...)
	if n > 0 && outer > 0 {
		c.copyInto(c.ptr(y), c.ptr(x)+cuda.DevicePtr(4*start*inner), []int{outer, n}, []int{x.shape[axis] * inner, 1}, []int{n, 1})
	}
	return y
}

// gatherRows queues y[r] = table[rows[r]] for rows of length inner. The caller holds the stream.
func (c *CUDA) gatherRows(y, table *Tensor, rows []int, inner int) {
	if len(rows) == 0 || inner == 0 {
		return
	}
	idx := make([]byte, 4*len(rows))
	for i, r := range rows {
		u := uint32(r)
		idx[4*i], idx[4*i+1], idx[4*i+2], idx[4*i+3] = byte(u), byte(u>>8), byte(u>>16), byte(u>>24)
	}
	ip, size, err := c.mem.Alloc(uint64(len(idx)))
	must("Gather", err)
	// The index block returns to the cache at once: later users of it are ordered after this kernel.
	defer c.mem.Free(ip, size)
	must("Gather", c.ctx.UploadBytes(ip, idx))
	c.launch1D("plp_gather_rows", len(rows)*inner, c.ptr(y), c.ptr(table), ip, len(rows)*inner, inner)
}

// Gather implements Backend.
func (c *CUDA) Gather(table *Tensor, idx []int) *Tensor {
	if table.Rank() < 1 {
		panic("tensor: Gather from a scalar")
	}
	v := table.shape[0]
	for _, j := range idx {
		if j < 0 || j >= v {
			panic(fmt.Sprintf("tensor: Gather index %d outside [0,%d)", j, v))
		}
	}
	defer c.enter()()
	y := c.alloc(append([]int{len(idx)}, table.shape[1:]...)...)
	c.gatherRows(y, table, idx, Numel(table.shape[1:]))
	return y
}

// TakeRows implements Backend as a gather of rows b*N+idx[b].
func (c *CUDA) TakeRows(x *Tensor, idx []int) *Tensor {
	if x.Rank() < 2 || len(idx) != x.shape[0] {
		panic(fmt.Sprintf("tensor: TakeRows %d indices from %v", len(idx), x.shape))
	}
	n := x.shape[1]
	rows := make([]int, len(idx))
	for b, j := range idx {
		if j < 0 || j >= n {
			panic(fmt.Sprintf("tensor: TakeRows index %d outside [0,%d)", j, n))
		}
		rows[b] = b*n + j
	}
	defer c.enter()()
	y := c.alloc(append([]int{len(idx)}, x.shape[2:]...)...)
	c.gatherRows(y, x, rows, Numel(x.shape[2:]))
	return y
}

// Reduce implements Backend.
func (c *CUDA) Reduce(x *Tensor, axis int, op ReduceOp) *Tensor {
	axis = normAxis(axis, x.Rank())
	outer := Numel(x.shape[:axis])
	n := x.shape[axis]
	inner := Numel(x.shape[axis+1:])
	outShape := append(append([]int(nil), x.shape[:axis]...), x.shape[axis+1:]...)
	var code int
	switch op {
	case Sum:
		code = 0
	case Mean:
		code = 1
	case Max:
		code = 2
	case Var:
		code = 3
	default:
		panic(fmt.Sprintf("tensor: unknown reduction %d", op))
	}
	defer c.enter()()
	if n == 0 {
		// plp_reduce seeds Max with the first element; an empty axis follows the CPU backend instead.
		return c.fromCPU(CPU{}.Reduce(c.toCPU(x)[0], axis, op))
	}
	y := c.alloc(outShape...)
	c.launch1D("plp_reduce", outer*inner, c.ptr(y), c.ptr(x), outer*inner, n, inner, code)
	return y
}

// ArgMax implements Backend on the host: the result is a host slice anyway.
func (c *CUDA) ArgMax(x *Tensor) []int {
	defer c.enter()()
	return CPU{}.ArgMax(c.toCPU(x)[0])
}
