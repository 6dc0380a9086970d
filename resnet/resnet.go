package resnet

import (
	"fmt"
	"strconv"

	"plp/tensor"
)

// Trace receives named intermediates during Forward: "stem_out" and "layer{1..4}_out" ([B, C, H, W]).
// Tensors are valid only during the call and must not be modified.
type Trace func(name string, t *tensor.Tensor)

// conv is a convolution with its BatchNorm folded in.
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
		k := cb.shape[2]
		folded[cb.conv] = conv{w: be.FromHost(w, cb.shape...), b: be.FromHost(b, cb.shape[0]), p: tensor.Conv{StrideH: 1, StrideW: 1, PadH: k / 2, PadW: k / 2, Groups: 1}}
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

func (m *Model) apply(x *tensor.Tensor, c conv, relu bool) *tensor.Tensor {
	y := m.be.Conv2D(x, c.w, c.b, c.p)
	if !relu {
		return y
	}
	r := m.be.Activation(y, tensor.ReLU)
	m.be.Free(y)
	return r
}

func (m *Model) avgPool(x *tensor.Tensor, k int) *tensor.Tensor {
	return m.be.Pool2D(x, tensor.Pool{Kind: tensor.AvgPool, KH: k, KW: k, StrideH: k, StrideW: k})
}

func (m *Model) forwardBlock(x *tensor.Tensor, b *bottleneck) *tensor.Tensor {
	be := m.be
	h := m.apply(x, b.c1, true)
	g := m.apply(h, b.c2, true)
	be.Free(h)
	if m.cfg.Style == OpenCLIP && b.stride > 1 {
		p := m.avgPool(g, b.stride)
		be.Free(g)
		g = p
	}
	main := m.apply(g, b.c3, false)
	be.Free(g)
	short := x
	if b.down != nil {
		in := x
		if m.cfg.Style == OpenCLIP && b.stride > 1 {
			in = m.avgPool(x, b.stride)
		}
		short = m.apply(in, *b.down, false)
		if in != x {
			be.Free(in)
		}
	}
	s := be.Add(main, short)
	be.Free(main)
	if short != x {
		be.Free(short)
	}
	out := be.Activation(s, tensor.ReLU)
	be.Free(s)
	return out
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
	for i, s := range m.stem {
		next := m.apply(x, s, true)
		if i > 0 {
			be.Free(x)
		}
		x = next
	}
	if c.Style == OpenCLIP {
		p := m.avgPool(x, 2)
		be.Free(x)
		x = p
	} else {
		p := be.Pool2D(x, tensor.Pool{Kind: tensor.MaxPool, KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadH: 1, PadW: 1})
		be.Free(x)
		x = p
	}
	if trace != nil {
		trace("stem_out", x)
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
			trace("layer"+strconv.Itoa(i+1)+"_out", x)
		}
	}
	if c.Style == OpenCLIP {
		embed = m.attnPool(x)
		be.Free(x)
		return embed, nil, nil
	}
	B, C := x.Dim(0), x.Dim(1)
	embed = be.Reduce(x.Reshape(B, C, -1), 2, tensor.Mean)
	be.Free(x)
	if m.fc != nil {
		logits = be.Linear(embed, m.fc, m.fcb)
	}
	return embed, logits, nil
}

// attnPool is open_clip's AttentionPool2d on x [B, C, h, w]: the spatial tokens with their mean
// prepended, plus the positional embedding, attended to by the mean token only, then c_proj.
func (m *Model) attnPool(x *tensor.Tensor) *tensor.Tensor {
	be := m.be
	B, C := x.Dim(0), x.Dim(1)
	flat := x.Reshape(B, C, -1)
	tok := be.Permute(flat, 0, 2, 1) // [B, hw, C]
	mean := be.Reduce(flat, 2, tensor.Mean).Reshape(B, 1, C)
	all := be.Concat(1, mean, tok)
	be.Free(tok)
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
