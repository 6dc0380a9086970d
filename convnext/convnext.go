package convnext

import (
	"fmt"
	"strconv"

	"plp/tensor"
)

// Trace receives named intermediates during Forward: "stem_out" and "stage{i}_out" ([B, C, H, W], NCHW)
// and "feature_map" (the last stage's output). Tensors are valid only during the call and must not be
// modified.
type Trace func(name string, t *tensor.Tensor)

// norm is a LayerNorm over channels.
type norm struct{ w, b *tensor.Tensor }

type block struct {
	dw, dwb   *tensor.Tensor // depthwise conv [C,7,7,1] and bias
	norm      norm
	fc1, fc1b *tensor.Tensor
	fc2, fc2b *tensor.Tensor // with the layer scale folded in
}

type stage struct {
	downNorm norm           // LayerNorm before the downsampling conv (stages ≥ 1)
	down     *tensor.Tensor // [C, 2, 2, Cprev], nil for stage 0
	downb    *tensor.Tensor
	blocks   []block
}

// Model is a loaded ConvNeXt trunk. It is safe for concurrent Forward calls.
//
// It runs channels-last ([B, H, W, C]) from the stem on: every LayerNorm is then over the last
// dimension, the MLP is two matrix products over all pixels, and only the input and traced tensors are
// permuted.
type Model struct {
	cfg         Config
	be          tensor.Backend
	stem, stemb *tensor.Tensor // [C, 4, 4, 3]
	stemNorm    norm
	stages      []stage
	headNorm    norm
	fc, fcb     *tensor.Tensor // classifier, nil without one
}

// Config returns the architecture.
func (m *Model) Config() Config { return m.cfg }

// channelsLast permutes checkpoint convolution weights [Cout, Cin, kh, kw] to [Cout, kh, kw, Cin].
func channelsLast(be tensor.Backend, w *tensor.Tensor) *tensor.Tensor {
	return be.Permute(w, 0, 2, 3, 1)
}

func build(c Config, be tensor.Backend, p map[string]*tensor.Tensor) *Model {
	m := &Model{
		cfg: c, be: be,
		stem: channelsLast(be, p["stem.0.weight"]), stemb: p["stem.0.bias"],
		stemNorm: norm{p["stem.1.weight"], p["stem.1.bias"]},
		headNorm: norm{p["head.norm.weight"], p["head.norm.bias"]},
		fc:       p["head.fc.weight"], fcb: p["head.fc.bias"],
	}
	for i := range c.Dims {
		s := "stages." + strconv.Itoa(i) + "."
		st := stage{}
		if i > 0 {
			st.downNorm = norm{p[s+"downsample.0.weight"], p[s+"downsample.0.bias"]}
			st.down, st.downb = channelsLast(be, p[s+"downsample.1.weight"]), p[s+"downsample.1.bias"]
		}
		for j := 0; j < c.Depths[i]; j++ {
			b := s + "blocks." + strconv.Itoa(j) + "."
			// Layer scale is per output channel of fc2, so it folds into fc2's rows and bias:
			// gamma·(W·h + b) = (gamma∘W)·h + gamma∘b. The block then needs no separate scaling pass.
			gamma := p[b+"gamma"]
			st.blocks = append(st.blocks, block{
				dw: channelsLast(be, p[b+"conv_dw.weight"]), dwb: p[b+"conv_dw.bias"],
				norm: norm{p[b+"norm.weight"], p[b+"norm.bias"]},
				fc1:  p[b+"mlp.fc1.weight"], fc1b: p[b+"mlp.fc1.bias"],
				fc2:  be.Mul(p[b+"mlp.fc2.weight"], gamma.Reshape(gamma.Numel(), 1)),
				fc2b: be.Mul(p[b+"mlp.fc2.bias"], gamma),
			})
		}
		m.stages = append(m.stages, st)
	}
	return m
}

// forwardBlock computes x + gamma·fc2(GELU(fc1(LN(dwconv(x))))) on channels-last x, the residual add
// and the activation fused into the matrix products.
func (m *Model) forwardBlock(x *tensor.Tensor, b *block) *tensor.Tensor {
	be := m.be
	h := be.Conv2D(x, b.dw, b.dwb, tensor.Conv{PadH: 3, PadW: 3, Groups: x.Dim(3), ChannelsLast: true})
	n := be.LayerNorm(h, b.norm.w, b.norm.b, m.cfg.Eps)
	be.Free(h)
	f := be.LinearAct(n, b.fc1, b.fc1b, nil, tensor.GELU)
	be.Free(n)
	out := be.LinearAct(f, b.fc2, b.fc2b, x, tensor.Identity) // layer scale folded in
	be.Free(f)
	return out
}

// trace hands a channels-last activation to t in the documented NCHW layout.
func (m *Model) trace(t Trace, name string, x *tensor.Tensor) {
	if t == nil {
		return
	}
	nchw := m.be.Permute(x, 0, 3, 1, 2)
	t(name, nchw)
	m.be.Free(nchw)
}

// Forward runs the trunk on normalized images x [B, 3, H, W]. It returns the pooled, normalized features
// [B, Width] (timm's pre-logits output) and, when the model has a classifier, the logits [B, NumClasses]
// (nil otherwise). trace may be nil.
func (m *Model) Forward(x *tensor.Tensor, trace Trace) (features, logits *tensor.Tensor, err error) {
	c, be := m.cfg, m.be
	minSide := 4 << (len(c.Dims) - 1)
	if x.Rank() != 4 || x.Dim(0) == 0 || x.Dim(1) != 3 || x.Dim(2) < minSide || x.Dim(3) < minSide {
		return nil, nil, fmt.Errorf("convnext: input %v, want [B 3 H W] with H, W ≥ %d", x.Shape(), minSide)
	}
	xl := be.Permute(x, 0, 2, 3, 1)
	h := be.Conv2D(xl, m.stem, m.stemb, tensor.Conv{StrideH: 4, StrideW: 4, Groups: 1, ChannelsLast: true})
	be.Free(xl)
	x = be.LayerNorm(h, m.stemNorm.w, m.stemNorm.b, c.Eps)
	be.Free(h)
	m.trace(trace, "stem_out", x)
	for i := range m.stages {
		st := &m.stages[i]
		if st.down != nil {
			n := be.LayerNorm(x, st.downNorm.w, st.downNorm.b, c.Eps)
			be.Free(x)
			x = be.Conv2D(n, st.down, st.downb, tensor.Conv{StrideH: 2, StrideW: 2, Groups: 1, ChannelsLast: true})
			be.Free(n)
		}
		for j := range st.blocks {
			next := m.forwardBlock(x, &st.blocks[j])
			be.Free(x)
			x = next
		}
		m.trace(trace, "stage"+strconv.Itoa(i)+"_out", x)
	}
	m.trace(trace, "feature_map", x)
	B, C := x.Dim(0), x.Dim(3)
	pooled := be.Reduce(x.Reshape(B, -1, C), 1, tensor.Mean)
	be.Free(x)
	if c.NoHeadNorm {
		features = pooled
	} else {
		features = be.LayerNorm(pooled, m.headNorm.w, m.headNorm.b, c.Eps)
		be.Free(pooled)
	}
	if m.fc != nil {
		logits = be.Linear(features, m.fc, m.fcb)
	}
	return features, logits, nil
}

// Backend returns the backend the weights live on.
func (m *Model) Backend() tensor.Backend { return m.be }
