package eval

import "math"

var sheMethod = &Method{
	Name:  "she",
	Paper: "Zhang et al., Out-of-Distribution Detection based on In-Distribution Data Patterns Memorization with Modern Hopfield Energy, ICLR 2023",
	Needs: NeedFeatures | NeedLogits | NeedLabels,
	Params: []ParamSpec{
		{Name: "metric", Kind: ChoiceParam, Default: "inner_product", Choices: []string{"inner_product", "euclidean", "cosine"}, Doc: "similarity of a feature to its predicted class's pattern"},
	},
	fit: fitSHE,
}

// SHE is simplified Hopfield energy: each class stores one pattern, the mean feature of the training
// samples it labels that are also predicted as it (argmax of the logits); a sample scores the similarity
// of its feature to the pattern of its predicted class (inner product, minus the Euclidean distance, or
// the cosine). A class none of whose training samples is predicted as it (OpenOOD's pattern would be
// NaN) takes the mean of all its training samples instead, and a class without training samples (a
// pseudo-label no sample received) the mean of all training samples.
type SHE struct {
	Metric   string
	dim, c   int
	patterns []float32 // [c, dim]
}

func fitSHE(s Setting, d *FitData) (Detector, error) {
	D, C := d.Dim, d.Classes
	// Sums over the correctly predicted samples of each class and over all of its samples.
	sums, all := make([]float64, C*D), make([]float64, C*D)
	counts, allCounts := make([]int, C), make([]int, C)
	for i, l := range d.Labels {
		correct := argmax(d.Logits[i*C:(i+1)*C]) == int(l)
		allCounts[l]++
		if correct {
			counts[l]++
		}
		for j, v := range d.Features[i*D : (i+1)*D] {
			all[int(l)*D+j] += float64(v)
			if correct {
				sums[int(l)*D+j] += float64(v)
			}
		}
	}
	m := &SHE{Metric: s.Choice("metric"), dim: D, c: C, patterns: make([]float32, C*D)}
	global := columnMean64(d.Features, len(d.Features)/D, D)
	for c := 0; c < C; c++ {
		src, k := sums, counts[c]
		if k == 0 {
			src, k = all, allCounts[c]
		}
		for j := 0; j < D; j++ {
			if k == 0 {
				m.patterns[c*D+j] = float32(global[j])
				continue
			}
			m.patterns[c*D+j] = float32(src[c*D+j] / float64(k))
		}
	}
	return m, nil
}

// Score implements Detector on b.Features and b.Logits.
func (m *SHE) Score(b Batch) ([]float64, error) {
	n, err := batchRows(b, NeedFeatures|NeedLogits, m.dim, m.c)
	if err != nil {
		return nil, err
	}
	out := make([]float64, n)
	parallelRows(n, func(i int) {
		x := b.Features[i*m.dim : (i+1)*m.dim]
		p := m.patterns[argmax(b.Logits[i*m.c:(i+1)*m.c])*m.dim:][:m.dim]
		var dot, xx, pp, dd float64
		for j, v := range x {
			a, q := float64(v), float64(p[j])
			dot += a * q
			xx += a * a
			pp += q * q
			dd += (a - q) * (a - q)
		}
		switch m.Metric {
		case "euclidean":
			out[i] = float64(-float32(math.Sqrt(dd)))
		case "cosine":
			out[i] = float64(float32(dot / math.Sqrt(max(xx*pp, 1e-16))))
		default:
			out[i] = float64(float32(dot))
		}
	})
	return out, nil
}
