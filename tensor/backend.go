package tensor

// Backend computes tensor operations on one device. All methods follow the package's backend contract.
type Backend interface {
	// Name identifies the device, e.g. "cpu" or "cuda:0".
	Name() string

	// Zeros returns a zero-filled tensor.
	Zeros(shape ...int) *Tensor
	// FromHost copies data (len = prod(shape)) into a new tensor.
	FromHost(data []float32, shape ...int) *Tensor
	// ToHost copies t to a new host slice, waiting for pending work.
	ToHost(t *Tensor) []float32
	// Sync waits for all queued work and reports any asynchronous error.
	Sync() error
	// Free releases t's storage early (optional; a no-op where memory is garbage collected).
	Free(t *Tensor)

	// MatMul multiplies the last two dims: a [..., M, K] by b [..., K, N] (transposed operands are read as
	// [..., K, M] / [..., N, K]). b's batch dims must equal a's or b must be 2-D (shared across the batch).
	MatMul(a, b *Tensor, transA, transB bool) *Tensor
	// Linear is x [..., in] @ w[out, in]^T + bias[out] (bias may be nil), PyTorch's nn.Linear.
	Linear(x, w, bias *Tensor) *Tensor
	// LinearAct is Linear followed by y = f(y + add), fused where the device can: add (nil for none) has the
	// result's shape, and f may be Identity. It saves the passes over memory of separate Add and Activation
	// calls.
	LinearAct(x, w, bias, add *Tensor, f Act) *Tensor

	// Add, Sub and Mul are elementwise with trailing-dimension broadcasting of b onto a's shape
	// (b's shape must be a suffix of a's, with 1s allowed for broadcasting).
	Add(a, b *Tensor) *Tensor
	Sub(a, b *Tensor) *Tensor
	Mul(a, b *Tensor) *Tensor
	// Scale returns s*a + c.
	Scale(a *Tensor, s, c float32) *Tensor
	// Activation applies f elementwise.
	Activation(a *Tensor, f Act) *Tensor

	// LayerNorm normalises over the last dimension with the biased variance: (x-mean)/sqrt(var+eps)*w + b.
	// w and b may be nil.
	LayerNorm(x, w, b *Tensor, eps float32) *Tensor
	// Softmax over the last dimension.
	Softmax(x *Tensor) *Tensor
	// L2Normalize divides each row (last dimension) by max(norm, eps).
	L2Normalize(x *Tensor, eps float32) *Tensor

	// Attention is fused multi-head scaled-dot-product attention. q [B, Nq, H*hd], k and v [B, Nk, H*hd];
	// head h uses features h*hd:(h+1)*hd. Returns [B, Nq, H*hd]. Scores are q·k/sqrt(hd) plus opt.Bias
	// ([H, Nq, Nk], optional) with an optional causal mask (key j visible to query i iff j <= i).
	Attention(q, k, v *Tensor, heads int, opt AttnOpts) *Tensor

	// Conv2D is cross-correlation: x [B, Cin, H, W], w [Cout, Cin/groups, kh, kw], bias [Cout] or nil, giving
	// [B, Cout, Ho, Wo]; with p.ChannelsLast, x is [B, H, W, Cin], w [Cout, kh, kw, Cin/groups] and the
	// result [B, Ho, Wo, Cout].
	Conv2D(x, w, bias *Tensor, p Conv) *Tensor
	// Conv2DAct is Conv2D followed by y = f(y + add), fused where the device can: add (nil for none) has the
	// result's shape, and f may be Identity.
	Conv2DAct(x, w, bias, add *Tensor, p Conv, f Act) *Tensor
	// Pool2D is average or max pooling of x [B, C, H, W] ([B, H, W, C] with p.ChannelsLast); padding counts
	// as zeros in an average (PyTorch's count_include_pad=True) and is ignored by max.
	Pool2D(x *Tensor, p Pool) *Tensor

	// Permute reorders dimensions: result dim i is input dim perm[i].
	Permute(x *Tensor, perm ...int) *Tensor
	// Concat joins tensors along axis; other dims must agree.
	Concat(axis int, ts ...*Tensor) *Tensor
	// Slice takes [start, end) along axis.
	Slice(x *Tensor, axis, start, end int) *Tensor
	// Gather picks rows of table [V, ...] by index: result [len(idx), ...]. Indices must be in range.
	Gather(table *Tensor, idx []int) *Tensor
	// TakeRows picks, for each leading index b of x [B, N, ...], row idx[b] along dim 1: result [B, ...].
	TakeRows(x *Tensor, idx []int) *Tensor

	// Reduce applies op over axis, removing it.
	Reduce(x *Tensor, axis int, op ReduceOp) *Tensor
	// ArgMax over the last dimension, returned on the host.
	ArgMax(x *Tensor) []int

	// Backward operations: each takes the forward op's inputs and dy, the gradient of a scalar loss with
	// respect to the forward result, and returns the gradients with respect to the inputs.

	// LayerNormBackward returns dx and, when w is not nil, dw and db (the bias gradient does not depend on
	// the bias, so the bias itself is not needed). With w nil, dw and db are nil.
	LayerNormBackward(x, w, dy *Tensor, eps float32) (dx, dw, db *Tensor)
	// ActivationBackward returns dy·f'(x).
	ActivationBackward(x, dy *Tensor, f Act) *Tensor
	// SoftmaxBackward returns dx from the softmax output y (over the last dimension).
	SoftmaxBackward(y, dy *Tensor) *Tensor
	// L2NormalizeBackward returns dx of L2Normalize(x, eps).
	L2NormalizeBackward(x, dy *Tensor, eps float32) *Tensor
	// AttentionBackward returns the gradients of Attention with respect to q, k and v. Scores are
	// recomputed per block of queries, so memory stays O(block × Nk); opt.Bias is treated as a constant.
	AttentionBackward(q, k, v, dy *Tensor, heads int, opt AttnOpts) (dq, dk, dv *Tensor)
	// Conv2DBackward returns dx, dw and db (db is always computed; callers without a bias ignore it). It
	// takes channels-first tensors only.
	Conv2DBackward(x, w, dy *Tensor, p Conv) (dx, dw, db *Tensor)
	// Pool2DBackward returns dx; max pooling routes each gradient to the first maximal input of its window.
	// It takes channels-first tensors only.
	Pool2DBackward(x, dy *Tensor, p Pool) *Tensor
	// ScatterAddRows is Gather's backward: a zero tensor [rows, ...] with src row i added to row idx[i].
	ScatterAddRows(src *Tensor, idx []int, rows int) *Tensor
	// SumTo sums x over the dimensions along which a tensor of shape was broadcast onto x (the trailing
	// broadcasting rule of Add), giving the gradient of that operand.
	SumTo(x *Tensor, shape ...int) *Tensor
}

// Act names an elementwise activation.
type Act int

const (
	GELU      Act = iota // exact erf form: 0.5x(1+erf(x/√2))
	QuickGELU            // x·σ(1.702x), OpenAI CLIP
	ReLU
	Sigmoid
	Tanh
	Exp
	// Identity leaves values as they are: the "no activation" of LinearAct and Conv2DAct.
	Identity
)

// AttnOpts are the optional parts of Attention.
type AttnOpts struct {
	Causal bool
	Bias   *Tensor // [H, Nq, Nk] added to the scaled logits
	// Lens, when not nil, packs sequences of different lengths back to back: q, k and v are [1, Σ Lens, D]
	// and each sequence attends only to itself (with Causal, to its own earlier positions). Bias must be
	// nil. It lets a batch of texts run without padding.
	Lens []int
}

// Conv holds Conv2D's geometry.
type Conv struct {
	StrideH, StrideW int
	PadH, PadW       int
	Groups           int
	// ChannelsLast selects the [B, H, W, C] layout (and [Cout, kh, kw, Cin/groups] weights), in which a
	// 1×1 convolution is one matrix product over every pixel of the batch.
	ChannelsLast bool
}

// PoolKind selects average or max pooling.
type PoolKind int

const (
	AvgPool PoolKind = iota
	MaxPool
)

// Pool holds Pool2D's geometry. Output size is floor((H+2·pad-k)/stride)+1 as in PyTorch.
type Pool struct {
	Kind             PoolKind
	KH, KW           int
	StrideH, StrideW int
	PadH, PadW       int
	ChannelsLast     bool // x is [B, H, W, C]
}

// ReduceOp selects the reduction of Reduce.
type ReduceOp int

const (
	Sum ReduceOp = iota
	Mean
	Max
	// Var is the biased variance (divide by n).
	Var
)
