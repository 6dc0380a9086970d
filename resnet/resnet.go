package resnet

import (
	"fmt"
	"strconv"

	"plp/tensor"
)

// Trace receives named intermediates during Forward: "stem_out" and "layer{1..4}_out" ([B, C, H, W]).
// Tensors are valid only during the call and must not be modified.
//
// Forward keeps activations channels-last ([B, H, W, C]), where a 1×1 convolution is one matrix product
// over every pixel; traced tensors are permuted to channels-first for the caller.
type Trace func(name string, t *tensor.Tensor)

// conv is a channels-last convolution with its BatchNorm folded in: w is [out, k, k, in].
type conv struct {
	w, b *tensor.Tensor
	p    tensor.Conv
}

type bottleneck struct {
	c1, c2, c3 conv
	down       *conv // shortcut projection, nil for identity
	stride     int   // of the block: where the anti-aliasing pool goes (OpenCLIP) or conv2's stride (Timm)
}

// Model is a loaded ResNet image tower. It is safe for concurrent Forward calls.
type Model struct {
	cfg    Config
	be     tensor.Backend
	stem   []conv
	blocks []bottleneck
	// OpenCLIP attention pool.
	pos                            *tensor.Tensor // [tokens, F]
	qw, qb, kw, kb, vw, vb, cw, cb *tensor.Tensor
	// Timm classifier, nil without one.
	fc, fcb *tensor.Tensor
}

// Config returns the architecture.
func (m *Model) Config() Config { return m.cfg }

func build(c Config, be tensor.Backend, h map[string][]float32) *Model {
	m := &Model{cfg: c, be: be}
	up := func(k string) *tensor.Tensor {
		v, ok := h[k]
		if !ok {
			return nil
		}
		return be.FromHost(v, c.Shapes()[k]...)
	}
	folded := map[string]conv{}
	for _, cb := range c.convs() {
		w, b := FoldBatchNorm(h[cb.conv+".weight"], h[cb.bn+".weight"], h[cb.bn+".bias"], h[cb.bn+".running_mean"], h[cb.bn+".running_var"], BatchNormEps)
		o, i, k := cb.shape[0], cb.shape[1], cb.shape[2]
		folded[cb.conv] = conv{w: be.FromHost(channelsLastWeight(w, o, i, k), o, k, k, i), b: be.FromHost(b, o),
			p: tensor.Conv{StrideH: 1, StrideW: 1, PadH: k / 2, PadW: k / 2, Groups: 1, ChannelsLast: true}}
	}
	if c.Style == OpenCLIP {
		s1 := folded["conv1"]
		s1.p.StrideH, s1.p.StrideW = 2, 2
		m.stem = []conv{s1, folded["conv2"], folded["conv3"]}
	} else {
		s1 := folded["conv1"]
		s1.p.StrideH, s1.p.StrideW = 2, 2
		m.stem = []conv{s1}
	}
	for i, n := range c.Layers {
		for j := 0; j < n; j++ {
			pre := "layer" + strconv.Itoa(i+1) + "." + strconv.Itoa(j) + "."
			b := bottleneck{c1: folded[pre+"conv1"], c2: folded[pre+"conv2"], c3: folded[pre+"conv3"], stride: 1}
			if j == 0 {
				b.stride = stride(i)
			}
			if d, ok := folded[pre+"downsample.0"]; ok {
				if c.Style == Timm {
					d.p.StrideH, d.p.StrideW = b.stride, b.stride
				}
				b.down = &d
			}
			if c.Style == Timm {
				b.c2.p.StrideH, b.c2.p.StrideW = b.stride, b.stride
			}
			m.blocks = append(m.blocks, b)
		}
	}
	m.pos = up("attnpool.positional_embedding")
	m.qw, m.qb = up("attnpool.q_proj.weight"), up("attnpool.q_proj.bias")
	m.kw, m.kb = up("attnpool.k_proj.weight"), up("attnpool.k_proj.bias")
	m.vw, m.vb = up("attnpool.v_proj.weight"), up("attnpool.v_proj.bias")
	m.cw, m.cb = up("attnpool.c_proj.weight"), up("attnpool.c_proj.bias")
	m.fc, m.fcb = up("fc.weight"), up("fc.bias")
	return m
}

// channelsLastWeight reorders a convolution weight [o, i, k, k] to [o, k, k, i].
func channelsLastWeight(w []float32, o, i, k int) []float32 {
	out := make([]float32, len(w))
	for a := 0; a < o; a++ {
		for c := 0; c < i; c++ {
			for p := 0; p < k*k; p++ {
				out[(a*k*k+p)*i+c] = w[(a*i+c)*k*k+p]
			}
		}
	}
	return out
}

// apply runs c on channels-last x, then act(y + add) (add may be nil).
func (m *Model) apply(x *tensor.Tensor, c conv, add *tensor.Tensor, act tensor.Act) *tensor.Tensor {
	return m.be.Conv2DAct(x, c.w, c.b, add, c.p, act)
}

func (m *Model) avgPool(x *tensor.Tensor, k int) *tensor.Tensor {
	return m.be.Pool2D(x, tensor.Pool{Kind: tensor.AvgPool, KH: k, KW: k, StrideH: k, StrideW: k, ChannelsLast: true})
}

// forwardBlock runs one bottleneck on channels-last x: the residual add and the last ReLU ride in
// conv3's epilogue, relu(conv3(g) + bias + shortcut).
func (m *Model) forwardBlock(x *tensor.Tensor, b *bottleneck) *tensor.Tensor {
	be := m.be
	short := x
	if b.down != nil {
		in := x
		if m.cfg.Style == OpenCLIP && b.stride > 1 {
			in = m.avgPool(x, b.stride)
		}
		short = m.apply(in, *b.down, nil, tensor.Identity)
		if in != x {
			be.Free(in)
		}
	}
	h := m.apply(x, b.c1, nil, tensor.ReLU)
	g := m.apply(h, b.c2, nil, tensor.ReLU)
	be.Free(h)
	if m.cfg.Style == OpenCLIP && b.stride > 1 {
		p := m.avgPool(g, b.stride)
		be.Free(g)
		g = p
	}
	out := m.apply(g, b.c3, short, tensor.ReLU)
	be.Free(g)
	if short != x {
		be.Free(short)
	}
	return out
}

// traceNCHW hands trace the channels-first view of channels-last x.
func (m *Model) traceNCHW(trace Trace, name string, x *tensor.Tensor) {
	t := m.be.Permute(x, 0, 3, 1, 2)
	trace(name, t)
	m.be.Free(t)
}

// Forward encodes normalized images x [B, 3, S, S] (S = ImageSize for OpenCLIP, whose attention pool is
// sized for it; any S ≥ 32 for Timm). It returns the embedding [B, EmbedDim] — the attention pool's
// output for OpenCLIP, the globally average-pooled features for Timm — and, for Timm models with a
// classifier, the logits [B, NumClasses] (nil otherwise). trace may be nil.
func (m *Model) Forward(x *tensor.Tensor, trace Trace) (embed, logits *tensor.Tensor, err error) {
	c, be := m.cfg, m.be
	if x.Rank() != 4 || x.Dim(0) == 0 || x.Dim(1) != 3 ||
		c.Style == OpenCLIP && (x.Dim(2) != c.ImageSize || x.Dim(3) != c.ImageSize) ||
		c.Style == Timm && (x.Dim(2) < 32 || x.Dim(3) < 32) {
		return nil, nil, fmt.Errorf("resnet: input %v, want [B 3 %d %d]", x.Shape(), c.ImageSize, c.ImageSize)
	}
	x = be.Permute(x, 0, 2, 3, 1)
	for _, s := range m.stem {
		next := m.apply(x, s, nil, tensor.ReLU)
		be.Free(x)
		x = next
	}
	if c.Style == OpenCLIP {
		p := m.avgPool(x, 2)
		be.Free(x)
		x = p
	} else {
		p := be.Pool2D(x, tensor.Pool{Kind: tensor.MaxPool, KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadH: 1, PadW: 1, ChannelsLast: true})
		be.Free(x)
		x = p
	}
	if trace != nil {
		m.traceNCHW(trace, "stem_out", x)
	}
	bi := 0
	for i, n := range c.Layers {
		for j := 0; j < n; j++ {
			next := m.forwardBlock(x, &m.blocks[bi])
			be.Free(x)
			x = next
			bi++
		}
		if trace != nil {
			m.traceNCHW(trace, "layer"+strconv.Itoa(i+1)+"_out", x)
		}
	}
	if c.Style == OpenCLIP {
		embed = m.attnPool(x)
		be.Free(x)
		return embed, nil, nil
	}
	B, C := x.Dim(0), x.Dim(3)
	embed = be.Reduce(x.Reshape(B, -1, C), 1, tensor.Mean)
	be.Free(x)
	if m.fc != nil {
		logits = be.Linear(embed, m.fc, m.fcb)
	}
	return embed, logits, nil
}

// attnPool is open_clip's AttentionPool2d on channels-last x [B, h, w, C]: the spatial tokens with their
// mean prepended, plus the positional embedding, attended to by the mean token only, then c_proj.
func (m *Model) attnPool(x *tensor.Tensor) *tensor.Tensor {
	be := m.be
	B, C := x.Dim(0), x.Dim(3)
	tok := x.Reshape(B, -1, C) // row-major spatial order, as open_clip flattens
	mean := be.Reduce(tok, 1, tensor.Mean).Reshape(B, 1, C)
	all := be.Concat(1, mean, tok)
	be.Free(mean)
	seq := be.Add(all, m.pos)
	be.Free(all)
	first := be.Slice(seq, 1, 0, 1)
	q := be.Linear(first, m.qw, m.qb)
	be.Free(first)
	k, v := be.Linear(seq, m.kw, m.kb), be.Linear(seq, m.vw, m.vb)
	be.Free(seq)
	a := be.Attention(q, k, v, m.cfg.Heads, tensor.AttnOpts{})
	be.Free(q)
	be.Free(k)
	be.Free(v)
	out := be.Linear(a, m.cw, m.cb)
	be.Free(a)
	return out.Reshape(B, m.cfg.OutputDim)
}
