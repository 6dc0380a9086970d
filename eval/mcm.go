package eval

import "math"

var mcmMethod = &Method{
	Name:  "mcm",
	Paper: "Ming et al., Delving into Out-of-Distribution Detection with Vision-Language Representations, NeurIPS 2022",
	Needs: NeedZeroShot,
	Params: []ParamSpec{
		{Name: "tau", Kind: FloatParam, Default: "1", Min: 1e-6, Max: 1e6, Doc: "softmax temperature applied to the cosine similarities"},
	},
	fit: func(s Setting, d *FitData) (Detector, error) {
		return &MCM{Tau: s.Float("tau"), classes: d.Classes}, nil
	},
}

// MCM is the maximum concept matching score: the largest softmax probability of the cosine similarities
// between the image embedding and the class text embeddings, divided by the temperature tau. It needs
// no fitting.
type MCM struct {
	Tau     float64
	classes int
}

// Score implements Detector on b.Logits, which must be cosine similarities.
func (m *MCM) Score(b Batch) ([]float64, error) {
	n, err := batchRows(b, NeedZeroShot, 0, m.classes)
	if err != nil {
		return nil, err
	}
	c := m.classes
	out := make([]float64, n)
	parallelRows(n, func(i int) {
		row := b.Logits[i*c : (i+1)*c]
		top := float64(maxOf(row))
		s := 0.0
		for _, v := range row {
			s += math.Exp((float64(v) - top) / m.Tau)
		}
		out[i] = float64(float32(1 / s))
	})
	return out, nil
}
