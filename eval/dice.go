package eval

var diceMethod = &Method{
	Name:  "dice",
	Paper: "Sun and Li, DICE: Leveraging Sparsification for Out-of-Distribution Detection, ECCV 2022",
	Needs: NeedFeatures | NeedHead,
	ReLU:  true,
	Params: []ParamSpec{
		{Name: "p", Kind: FloatParam, Default: "90", Min: 0, Max: 100, Doc: "percentile of the weight contributions below which weights are dropped"},
	},
	fit: fitDICE,
}

// DICE keeps only the head weights whose contribution w_cj·m_j, with m the mean training feature, is
// above the p-th percentile of all contributions, and scores the energy (logsumexp) of the sparsified
// head's logits.
type DICE struct {
	dim, c int
	w, b   []float32 // w masked
}

func fitDICE(s Setting, d *FitData) (Detector, error) {
	D, C := d.Dim, d.Classes
	n := len(d.Features) / D
	mean := columnMean32(d.Features, n, D)
	contrib := make([]float32, C*D)
	for c := 0; c < C; c++ {
		for j := 0; j < D; j++ {
			contrib[c*D+j] = mean[j] * d.Weight[c*D+j]
		}
	}
	t := percentile(append([]float32(nil), contrib...), s.Float("p"))
	m := &DICE{dim: D, c: C, b: d.Bias, w: make([]float32, C*D)}
	for i, v := range contrib {
		if float64(v) > t {
			m.w[i] = d.Weight[i]
		}
	}
	return m, nil
}

// Score implements Detector on b.Features.
func (m *DICE) Score(b Batch) ([]float64, error) {
	n, err := batchRows(b, NeedFeatures, m.dim, m.c)
	if err != nil {
		return nil, err
	}
	return widen32(logSumExpRows(headLogits(b.Features, n, m.dim, m.w, m.b, m.c), m.c)), nil
}
