package eval

import (
	"fmt"
	"math"
)

var knnKthMethod = &Method{
	Name:  "knn_kth",
	Paper: "Sun et al., Out-of-Distribution Detection with Deep Nearest Neighbors, ICML 2022",
	Needs: NeedFeatures,
	Params: []ParamSpec{
		{Name: "K", Kind: IntParam, Default: "50", Min: 1, Max: math.MaxInt32, Doc: "rank of the training neighbour whose distance is the score"},
	},
	fit: fitKNNKth,
}

// KNNKth is the deep nearest-neighbour score of Sun et al. (OpenOOD's knn): features are L2-normalised,
// and a sample scores minus the squared Euclidean distance to its K-th nearest training feature.
type KNNKth struct {
	K      int
	dim    int
	bank   []float32 // normalised training features
	negSq  []float32 // −‖t‖² of the bank rows
	nTrain int
}

func fitKNNKth(s Setting, d *FitData) (Detector, error) {
	k := s.Int("K")
	n := len(d.Features) / d.Dim
	if k > n {
		return nil, fmt.Errorf("K=%d exceeds the %d training samples (set knn_kth.K)", k, n)
	}
	m := &KNNKth{K: k, dim: d.Dim, bank: normalizeOpenOOD(d.Features, d.Dim), nTrain: n}
	m.negSq = make([]float32, n)
	for i := range m.negSq {
		m.negSq[i] = -sqNorm32(m.bank[i*d.Dim : (i+1)*d.Dim])
	}
	return m, nil
}

// Score implements Detector on b.Features.
func (m *KNNKth) Score(b Batch) ([]float64, error) {
	n, err := batchRows(b, NeedFeatures, m.dim, 0)
	if err != nil {
		return nil, err
	}
	q := normalizeOpenOOD(b.Features, m.dim)
	// ‖q − t‖² = ‖q‖² + ‖t‖² − 2q·t: the nearest t maximise 2q·t − ‖t‖², found with the GEMM on 2q.
	q2 := make([]float32, len(q))
	for i, v := range q {
		q2[i] = 2 * v
	}
	top := topInnerProducts(q2, n, m.bank, m.nTrain, m.dim, m.negSq, m.K)
	out := make([]float64, n)
	for i := range out {
		d := sqNorm32(q[i*m.dim:(i+1)*m.dim]) - top[i*m.K+m.K-1]
		out[i] = -float64(max(d, 0))
	}
	return out, nil
}

// sqNorm32 is ‖x‖² accumulated in float64 and rounded to float32.
func sqNorm32(x []float32) float32 {
	s := 0.0
	for _, v := range x {
		s += float64(v) * float64(v)
	}
	return float32(s)
}
