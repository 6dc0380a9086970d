package eval

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

var nnguideMethod = &Method{
	Name:  "nnguide",
	Paper: "Park et al., Nearest Neighbor Guidance for Out-of-Distribution Detection, ICCV 2023",
	Needs: NeedFeatures | NeedLogits,
	Params: []ParamSpec{
		{Name: "K", Kind: IntParam, Default: "100", Min: 1, Max: math.MaxInt32, Doc: "neighbours in the guidance bank"},
		{Name: "alpha", Kind: FloatParam, Default: "0.01", Min: 1e-9, Max: 1, Doc: "fraction of the training split in the bank (a fixed random subset; 1 = all)"},
	},
	fit: fitNNGuide,
}

// NNGuide is nearest-neighbour guidance: the bank holds L2-normalised training features scaled by their
// energy (logsumexp of the logits); a sample's score is the mean of its K largest inner products with
// the bank, times its own energy. With alpha < 1 the bank is a random subset of ⌈alpha·n⌉ training
// samples drawn with a fixed seed (OpenOOD takes the first batches of its shuffled loader).
type NNGuide struct {
	K      int
	Alpha  float64
	dim, c int
	bank   []float32
	nBank  int
}

func fitNNGuide(s Setting, d *FitData) (Detector, error) {
	k, alpha := s.Int("K"), s.Float("alpha")
	D, C := d.Dim, d.Classes
	n := len(d.Features) / D
	rows := make([]int, n)
	for i := range rows {
		rows[i] = i
	}
	if alpha < 1 {
		rng := rand.New(rand.NewPCG(0, 0))
		rng.Shuffle(n, func(i, j int) { rows[i], rows[j] = rows[j], rows[i] })
		rows = rows[:int(math.Ceil(alpha*float64(n)))]
		slices.Sort(rows)
	}
	if k > len(rows) {
		return nil, fmt.Errorf("K=%d exceeds the %d samples of the bank (alpha=%g of %d; set nnguide.K or nnguide.alpha)", k, len(rows), alpha, n)
	}
	m := &NNGuide{K: k, Alpha: alpha, dim: D, c: C, nBank: len(rows), bank: make([]float32, len(rows)*D)}
	for r, i := range rows {
		copy(m.bank[r*D:(r+1)*D], d.Features[i*D:(i+1)*D])
	}
	m.bank = normalizeOpenOOD(m.bank, D)
	for r, i := range rows {
		conf := float32(logSumExp(d.Logits[i*C : (i+1)*C]))
		for j := range m.bank[r*D : (r+1)*D] {
			m.bank[r*D+j] *= conf
		}
	}
	return m, nil
}

// Score implements Detector on b.Features and b.Logits.
func (m *NNGuide) Score(b Batch) ([]float64, error) {
	n, err := batchRows(b, NeedFeatures|NeedLogits, m.dim, m.c)
	if err != nil {
		return nil, err
	}
	q := normalizeOpenOOD(b.Features, m.dim)
	top := topInnerProducts(q, n, m.bank, m.nBank, m.dim, nil, m.K)
	out := make([]float64, n)
	for i := range out {
		s := 0.0
		for _, v := range top[i*m.K : (i+1)*m.K] {
			s += float64(v)
		}
		conf := float32(s / float64(m.K))
		out[i] = float64(conf * float32(logSumExp(b.Logits[i*m.c:(i+1)*m.c])))
	}
	return out, nil
}
