package train

import (
	"fmt"
	"strconv"
	"strings"

	"plp/convnext"
	"plp/tensor"
	"plp/weights"
)

// ConvNeXt is a trainable timm ConvNeXt with timm's key names (prefix + key).
type ConvNeXt struct {
	cfg    convnext.Config
	prefix string
	p      *Params
}

// NewConvNeXt builds a trainable ConvNeXt from tensors named prefix + timm's keys.
func NewConvNeXt(c convnext.Config, be tensor.Backend, ws map[string]*weights.Tensor, prefix string) (*ConvNeXt, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	p, err := loadParams(be, c.Shapes(), ws, prefix)
	if err != nil {
		return nil, err
	}
	return &ConvNeXt{cfg: c, prefix: prefix, p: p}, nil
}

// Params implements Encoder.
func (m *ConvNeXt) Params() *Params { return m.p }

// FeatureDim implements Encoder.
func (m *ConvNeXt) FeatureDim() int { return m.cfg.Width() }

// ImageSize implements Encoder.
func (m *ConvNeXt) ImageSize() int { return m.cfg.ImageSize }

// FreezeBlocks implements Encoder: the stem and the first k blocks counted across stages (with the
// downsampling layers that precede them).
func (m *ConvNeXt) FreezeBlocks(k int) int {
	if k <= 0 {
		return 0
	}
	frozen := map[string]bool{m.prefix + "stem.": true}
	n := 0
	for i, d := range m.cfg.Depths {
		for j := 0; j < d && n < k; j++ {
			s := m.prefix + "stages." + strconv.Itoa(i) + "."
			frozen[s+"downsample."] = true
			frozen[s+"blocks."+strconv.Itoa(j)+"."] = true
			n++
		}
	}
	return m.p.Freeze(func(name string) bool {
		for pre := range frozen {
			if strings.HasPrefix(name, pre) {
				return true
			}
		}
		return false
	})
}

func (m *ConvNeXt) get(name string) *Var { return m.p.Get(m.prefix + name) }

// channelNorm is a LayerNorm over the channels of an NCHW tensor.
func (m *ConvNeXt) channelNorm(tp *Tape, x *Var, pre string) *Var {
	h := tp.Permute(x, 0, 2, 3, 1)
	h = tp.LayerNorm(h, m.get(pre+"weight"), m.get(pre+"bias"), m.cfg.Eps)
	return tp.Permute(h, 0, 3, 1, 2)
}

// Forward implements Encoder.
func (m *ConvNeXt) Forward(tp *Tape, x *Var) (features, logits *Var, err error) {
	xs := x.Value.Shape()
	if len(xs) != 4 || xs[1] != 3 || xs[0] == 0 || xs[2] < 4<<(len(m.cfg.Dims)-1) || xs[3] < 4<<(len(m.cfg.Dims)-1) {
		return nil, nil, fmt.Errorf("train: input %v, want [B 3 H W] with sides of at least %d", xs, 4<<(len(m.cfg.Dims)-1))
	}
	h := tp.Conv2D(x, m.get("stem.0.weight"), m.get("stem.0.bias"), tensor.Conv{StrideH: 4, StrideW: 4, Groups: 1})
	h = m.channelNorm(tp, h, "stem.1.")
	for i, d := range m.cfg.Dims {
		s := "stages." + strconv.Itoa(i) + "."
		if i > 0 {
			h = m.channelNorm(tp, h, s+"downsample.0.")
			h = tp.Conv2D(h, m.get(s+"downsample.1.weight"), m.get(s+"downsample.1.bias"), tensor.Conv{StrideH: 2, StrideW: 2, Groups: 1})
		}
		for j := 0; j < m.cfg.Depths[i]; j++ {
			b := s + "blocks." + strconv.Itoa(j) + "."
			y := tp.Conv2D(h, m.get(b+"conv_dw.weight"), m.get(b+"conv_dw.bias"), tensor.Conv{StrideH: 1, StrideW: 1, PadH: 3, PadW: 3, Groups: d})
			y = tp.Permute(y, 0, 2, 3, 1)
			y = tp.LayerNorm(y, m.get(b+"norm.weight"), m.get(b+"norm.bias"), m.cfg.Eps)
			y = tp.LinearAct(y, m.get(b+"mlp.fc1.weight"), m.get(b+"mlp.fc1.bias"), tensor.GELU)
			y = tp.Linear(y, m.get(b+"mlp.fc2.weight"), m.get(b+"mlp.fc2.bias"))
			y = tp.Mul(y, m.get(b+"gamma"))
			h = tp.Add(h, tp.Permute(y, 0, 3, 1, 2))
		}
	}
	B, C := h.Value.Dim(0), h.Value.Dim(1)
	pooled := tp.Reduce(tp.Reshape(h, B, C, -1), 2, tensor.Mean)
	features = tp.LayerNorm(pooled, m.get("head.norm.weight"), m.get("head.norm.bias"), m.cfg.Eps)
	if w := m.get("head.fc.weight"); w != nil {
		logits = tp.Linear(features, w, m.get("head.fc.bias"))
	}
	return features, logits, nil
}
