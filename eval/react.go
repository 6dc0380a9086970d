package eval

var reactMethod = &Method{
	Name:  "react",
	Paper: "Sun et al., ReAct: Out-of-distribution Detection With Rectified Activations, NeurIPS 2021",
	Needs: NeedFeatures | NeedHead,
	ReLU:  true,
	Params: []ParamSpec{
		{Name: "percentile", Kind: FloatParam, Default: "90", Min: 0, Max: 100, Doc: "percentile of all training activations used as the clipping threshold"},
	},
	fit: fitReAct,
}

// ReAct clips every feature at a threshold, the given percentile of all training activations (numpy's
// linear interpolation), and scores the energy (logsumexp) of the head's logits on the clipped features.
type ReAct struct {
	Threshold float64
	dim, c    int
	w, b      []float32
}

func fitReAct(s Setting, d *FitData) (Detector, error) {
	t := percentileInPlace(d.Features, s.Float("percentile"))
	return &ReAct{Threshold: t, dim: d.Dim, c: d.Classes, w: d.Weight, b: d.Bias}, nil
}

// Score implements Detector on b.Features.
func (m *ReAct) Score(b Batch) ([]float64, error) {
	n, err := batchRows(b, NeedFeatures, m.dim, m.c)
	if err != nil {
		return nil, err
	}
	t := float32(m.Threshold)
	x := make([]float32, len(b.Features))
	for i, v := range b.Features {
		x[i] = min(v, t)
	}
	return widen32(logSumExpRows(headLogits(x, n, m.dim, m.w, m.b, m.c), m.c)), nil
}
