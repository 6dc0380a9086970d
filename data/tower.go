package data

import (
	"fmt"

	"plp/tensor"
	"plp/zoo"
)

// KindLogits is what a TowerEncoder stores for a classifier: the model's own logits.
const KindLogits = "logits"

// TowerEncoder encodes with a whole zoo model rather than keeping the paper's stored feature: it gives the
// image tower's output after any projection (KindEmbed: the input of a `plp finetune` head) or, with
// logits, the model's classifier logits (KindLogits). ModelEncoder, by contrast, keeps the pre-projection
// feature of a tower with a projection.
type TowerEncoder struct {
	m      *zoo.Model
	logits bool
	dim    int
}

// NewTowerEncoder wraps m. It runs one zero image through the model to learn the output width, so that a
// model that cannot encode fails here rather than hours into a run.
func NewTowerEncoder(m *zoo.Model, logits bool) (*TowerEncoder, error) {
	e := &TowerEncoder{m: m, logits: logits}
	s := m.ImageSize()
	if s <= 0 {
		return nil, fmt.Errorf("data: model %s has image size %d", m.Name(), s)
	}
	v, err := e.encode(make([]float32, 3*s*s), 1)
	if err != nil {
		return nil, err
	}
	e.dim = len(v)
	return e, nil
}

// Kind is KindEmbed or KindLogits.
func (e *TowerEncoder) Kind() string {
	if e.logits {
		return KindLogits
	}
	return KindEmbed
}

// Dim implements Encoder.
func (e *TowerEncoder) Dim() int { return e.dim }

// ImageSize implements Encoder.
func (e *TowerEncoder) ImageSize() int { return e.m.ImageSize() }

// Encode implements Encoder.
func (e *TowerEncoder) Encode(x []float32, n int) ([]float32, error) {
	s := e.m.ImageSize()
	if len(x) != n*3*s*s {
		return nil, fmt.Errorf("data: encode: %d values for %d images of %dx%d", len(x), n, s, s)
	}
	v, err := e.encode(x, n)
	if err == nil && len(v) != n*e.dim {
		err = fmt.Errorf("data: model %s returned %d values for %d images of width %d", e.m.Name(), len(v), n, e.dim)
	}
	return v, err
}

func (e *TowerEncoder) encode(x []float32, n int) ([]float32, error) {
	s := e.m.ImageSize()
	be := e.m.Backend()
	xt := be.FromHost(x, n, 3, s, s)
	defer be.Free(xt)
	var out *tensor.Tensor
	if e.logits {
		l, err := e.m.Logits(xt)
		if err != nil {
			return nil, err
		}
		out = l
	} else {
		embed, preproj, err := e.m.EncodeImage(xt)
		if err != nil {
			return nil, err
		}
		if preproj != nil && preproj != embed {
			be.Free(preproj)
		}
		out = embed
	}
	defer be.Free(out)
	if out.Rank() != 2 || out.Dim(0) != n {
		return nil, fmt.Errorf("data: model %s returned shape %v for %d images", e.m.Name(), out.Shape(), n)
	}
	return be.ToHost(out), nil
}
