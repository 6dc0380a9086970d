package eval

import "math"

var fdbdMethod = &Method{
	Name:  "fdbd",
	Paper: "Liu and Qin, Fast Decision Boundary based Out-of-Distribution Detector, ICML 2024",
	Needs: NeedFeatures | NeedHead,
	Params: []ParamSpec{
		{Name: "distance_as_normalizer", Kind: BoolParam, Default: "true", Doc: "divide by the distance to the mean training feature (false: by the feature norm)"},
	},
	fit: fitFDBD,
}

// FDBD is the feature distance to the decision boundaries: for the predicted class p, the sum over
// classes c of |logit_c − logit_p| / ‖w_c − w_p‖, divided by ‖x − mean training feature‖ (or ‖x‖).
type FDBD struct {
	DistanceAsNormalizer bool
	dim, c               int
	w, b                 []float32
	mean                 []float32
	denom                []float64 // [c, c] ‖w_c − w_p‖ in row p, 1 on the diagonal
}

func fitFDBD(s Setting, d *FitData) (Detector, error) {
	D, C := d.Dim, d.Classes
	n := len(d.Features) / D
	m := &FDBD{DistanceAsNormalizer: s.Bool("distance_as_normalizer"), dim: D, c: C, w: d.Weight, b: d.Bias,
		mean: columnMean32(d.Features, n, D), denom: make([]float64, C*C)}
	for p := 0; p < C; p++ {
		for c := 0; c < C; c++ {
			if c == p {
				m.denom[p*C+c] = 1
				continue
			}
			s := 0.0
			for j := 0; j < D; j++ {
				v := float64(d.Weight[c*D+j] - d.Weight[p*D+j])
				s += v * v
			}
			m.denom[p*C+c] = float64(float32(math.Sqrt(s)))
		}
	}
	return m, nil
}

// Score implements Detector on b.Features.
func (m *FDBD) Score(b Batch) ([]float64, error) {
	n, err := batchRows(b, NeedFeatures, m.dim, m.c)
	if err != nil {
		return nil, err
	}
	logits := headLogits(b.Features, n, m.dim, m.w, m.b, m.c)
	out := make([]float64, n)
	parallelRows(n, func(i int) {
		row := logits[i*m.c : (i+1)*m.c]
		p := argmax(row)
		top := row[p]
		s := 0.0
		for c, v := range row {
			s += math.Abs(float64(v-top)) / m.denom[p*m.c+c]
		}
		x := b.Features[i*m.dim : (i+1)*m.dim]
		norm := 0.0
		for j, v := range x {
			if m.DistanceAsNormalizer {
				v -= m.mean[j]
			}
			norm += float64(v) * float64(v)
		}
		out[i] = s / float64(float32(math.Sqrt(norm)))
	})
	return out, nil
}
