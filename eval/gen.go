package eval

import (
	"math"
	"slices"
)

var genMethod = &Method{
	Name:  "gen",
	Paper: "Liu et al., GEN: Pushing the Limits of Softmax-Based Out-of-Distribution Detection, CVPR 2023",
	Needs: NeedLogits,
	Params: []ParamSpec{
		{Name: "gamma", Kind: FloatParam, Default: "0.1", Min: 1e-6, Max: 100, Doc: "exponent of the generalized entropy"},
		{Name: "M", Kind: IntParam, Default: "100", Min: 1, Max: math.MaxInt32, Doc: "number of largest class probabilities used (all classes if larger)"},
	},
	fit: func(s Setting, d *FitData) (Detector, error) {
		return &GEN{Gamma: s.Float("gamma"), M: s.Int("M"), classes: d.Classes}, nil
	},
}

// GEN is the generalized entropy score: minus the sum, over the M largest softmax probabilities p, of
// p^γ (1−p)^γ. It needs no fitting.
type GEN struct {
	Gamma   float64
	M       int
	classes int
}

// Score implements Detector on b.Logits.
func (g *GEN) Score(b Batch) ([]float64, error) {
	n, err := batchRows(b, NeedLogits, 0, g.classes)
	if err != nil {
		return nil, err
	}
	c := g.classes
	m := min(g.M, c)
	out := make([]float64, n)
	parallelRows(n, func(i int) {
		p := make([]float32, c)
		torchSoftmax(p, b.Logits[i*c:(i+1)*c])
		slices.Sort(p)
		s := 0.0
		for _, v := range p[c-m:] {
			s += float64(float32(math.Pow(float64(v), g.Gamma)) * float32(math.Pow(float64(1-v), g.Gamma)))
		}
		out[i] = float64(-float32(s))
	})
	return out, nil
}
