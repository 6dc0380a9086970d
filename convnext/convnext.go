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
	dw, dwb   *tensor.Tensor // depthwise conv [C,1,7,7] and bias
	norm      norm
	fc1, fc1b *tensor.Tensor
	fc2, fc2b *tensor.Tensor
	gamma     *tensor.Tensor
}

type stage struct {
	downNorm norm           // LayerNorm2d before the downsampling conv (stages ≥ 1)
	down     *tensor.Tensor // [C, Cprev, 2, 2], nil for stage 0
	downb    *tensor.Tensor
	blocks   []block
}

// Model is a loaded ConvNeXt trunk. It is safe for concurrent Forward calls.
type Model struct {
	cfg         Config
	be          tensor.Backend
	stem, stemb *tensor.Tensor
	stemNorm    norm
	stages      []stage
	headNorm    norm
	fc, fcb     *tensor.Tensor // classifier, nil without one
}

// Config returns the architecture.
func (m *Model) Config() Config { return m.cfg }

func build(c Config, be tensor.Backend, p map[string]*tensor.Tensor) *Model {
	m := &Model{
		cfg: c, be: be,
		stem: p["stem.0.weight"], stemb: p["stem.0.bias"],
		stemNorm: norm{p["stem.1.weight"], p["stem.1.bias"]},
		headNorm: norm{p["head.norm.weight"], p["head.norm.bias"]},
		fc:       p["head.fc.weight"], fcb: p["head.fc.bias"],
	}
	for i := range c.Dims {
		s := "stages." + strconv.Itoa(i) + "."
		st := stage{}
		if i > 0 {
			st.downNorm = norm{p[s+"downsample.0.weight"], p[s+"downsample.0.bias"]}
			st.down, st.downb = p[s+"downsample.1.weight"], p[s+"downsample.1.bias"]
		}
		for j := 0; j < c.Depths[i]; j++ {
			b := s + "blocks." + strconv.Itoa(j) + "."
			// Layer scale is per output channel of fc2, so it folds into fc2's rows and bias:
			// gamma·(W·h + b) = (gamma∘W)·h + gamma∘b. The block then needs no separate scaling pass.
			gamma := p[b+"gamma"]
			st.blocks = append(st.blocks, block{
				dw: p[b+"conv_dw.weight"], dwb: p[b+"conv_dw.bias"],
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

// norm2d is timm's LayerNorm2d on NCHW x: a LayerNorm over the channels of every pixel.
func (m *Model) norm2d(x *tensor.Tensor, n norm) *tensor.Tensor {
	be := m.be
	nhwc := be.Permute(x, 0, 2, 3, 1)
	y := be.LayerNorm(nhwc, n.w, n.b, m.cfg.Eps)
	be.Free(nhwc)
	out := be.Permute(y, 0, 3, 1, 2)
	be.Free(y)
	return out
}

// forwardBlock computes x + gamma·fc2(GELU(fc1(LN(dwconv(x))))), with the MLP run channels-last.
func (m *Model) forwardBlock(x *tensor.Tensor, b *block) *tensor.Tensor {
	be := m.be
	C := x.Dim(1)
	h := be.Conv2D(x, b.dw, b.dwb, tensor.Conv{PadH: 3, PadW: 3, Groups: C})
	nhwc := be.Permute(h, 0, 2, 3, 1)
	be.Free(h)
	n := be.LayerNorm(nhwc, b.norm.w, b.norm.b, m.cfg.Eps)
	be.Free(nhwc)
	f := be.Linear(n, b.fc1, b.fc1b)
	be.Free(n)
	g := be.Activation(f, tensor.GELU)
	be.Free(f)
	o := be.Linear(g, b.fc2, b.fc2b) // layer scale folded in
	be.Free(g)
	back := be.Permute(o, 0, 3, 1, 2)
	be.Free(o)
	out := be.Add(x, back)
	be.Free(back)
	return out
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
	h := be.Conv2D(x, m.stem, m.stemb, tensor.Conv{StrideH: 4, StrideW: 4, Groups: 1})
	x = m.norm2d(h, m.stemNorm)
	be.Free(h)
	if trace != nil {
		trace("stem_out", x)
	}
	for i := range m.stages {
		st := &m.stages[i]
		if st.down != nil {
			n := m.norm2d(x, st.downNorm)
			be.Free(x)
			x = be.Conv2D(n, st.down, st.downb, tensor.Conv{StrideH: 2, StrideW: 2, Groups: 1})
			be.Free(n)
		}
		for j := range st.blocks {
			next := m.forwardBlock(x, &st.blocks[j])
			be.Free(x)
			x = next
		}
		if trace != nil {
			trace("stage"+strconv.Itoa(i)+"_out", x)
		}
	}
	if trace != nil {
		trace("feature_map", x)
	}
	B, C := x.Dim(0), x.Dim(1)
	pooled := be.Reduce(x.Reshape(B, C, -1), 2, tensor.Mean)
	be.Free(x)
	features = be.LayerNorm(pooled, m.headNorm.w, m.headNorm.b, c.Eps)
	be.Free(pooled)
	if m.fc != nil {
		logits = be.Linear(features, m.fc, m.fcb)
	}
	return features, logits, nil
}

// Backend returns the backend the weights live on.
func (m *Model) Backend() tensor.Backend { return m.be }
