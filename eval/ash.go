package eval

import (
	"fmt"
	"math"
)

func ashMethod(name, doc string, shape shaping) *Method {
	return &Method{
		Name:  name,
		Paper: "Djurisic et al., Extremely Simple Activation Shaping for Out-of-Distribution Detection, ICLR 2023" + doc,
		Needs: NeedFeatures | NeedHead,
		ReLU:  true,
		Params: []ParamSpec{
			{Name: "percentile", Kind: FloatParam, Default: "90", Min: 0, Max: 100, Doc: "percentage of each sample's activations pruned"},
		},
		fit: func(s Setting, d *FitData) (Detector, error) {
			return newShaper(shape, s.Float("percentile"), d)
		},
	}
}

var (
	ashMethodB = ashMethod("ash", " (ASH-B, OpenOOD's ash)", shapeASHB)
	ashMethodP = ashMethod("ash_p", " (ASH-P)", shapeASHP)
	ashMethodS = ashMethod("ash_s", " (ASH-S)", shapeASHS)
)

// shaping is one of the per-sample activation shapings of ASH and SCALE.
type shaping int

const (
	shapeASHB  shaping = iota // keep the top k positions, all set to sum(x)/k
	shapeASHP                 // keep the top k values, zero the rest
	shapeASHS                 // keep the top k values, scaled by exp(sum(x)/sum(top k))
	shapeSCALE                // keep every value, scaled by exp(sum(x)/sum(top k))
)

// Shaper reshapes each sample's features from its own k = n − round(n·percentile/100) largest
// activations (ASH-B, ASH-P, ASH-S, SCALE; no fitting) and scores the energy (logsumexp) of the head's
// logits on the result. Among equal activations at the cut, the lower index is kept.
type Shaper struct {
	shape  shaping
	k      int
	dim, c int
	w, b   []float32
}

func newShaper(shape shaping, p float64, d *FitData) (*Shaper, error) {
	k := d.Dim - roundHalfEven(float64(d.Dim)*p/100)
	if k < 1 {
		return nil, fmt.Errorf("percentile %g keeps no activation of %d", p, d.Dim)
	}
	return &Shaper{shape: shape, k: k, dim: d.Dim, c: d.Classes, w: d.Weight, b: d.Bias}, nil
}

// Score implements Detector on b.Features.
func (m *Shaper) Score(b Batch) ([]float64, error) {
	n, err := batchRows(b, NeedFeatures, m.dim, m.c)
	if err != nil {
		return nil, err
	}
	x := make([]float32, len(b.Features))
	parallelRows(n, func(i int) {
		m.shapeRow(x[i*m.dim:(i+1)*m.dim], b.Features[i*m.dim:(i+1)*m.dim])
	})
	return widen32(logSumExpRows(headLogits(x, n, m.dim, m.w, m.b, m.c), m.c)), nil
}

func (m *Shaper) shapeRow(dst, src []float32) {
	s1 := 0.0
	for _, v := range src {
		s1 += float64(v)
	}
	// The k-th largest value and how many of its equals are kept.
	tmp := append([]float32(nil), src...)
	cut := selectNth(tmp, len(tmp)-m.k)
	above := 0
	for _, v := range src {
		if v > cut {
			above++
		}
	}
	ties := m.k - above
	keep := func(v float32) bool {
		if v > cut {
			return true
		}
		if v == cut && ties > 0 {
			ties--
			return true
		}
		return false
	}
	switch m.shape {
	case shapeASHB:
		fill := float32(float32(s1) / float32(m.k))
		for j, v := range src {
			dst[j] = 0
			if keep(v) {
				dst[j] = fill
			}
		}
	case shapeASHP:
		for j, v := range src {
			dst[j] = 0
			if keep(v) {
				dst[j] = v
			}
		}
	case shapeASHS, shapeSCALE:
		s2 := 0.0
		for j, v := range src {
			dst[j] = 0
			if keep(v) {
				dst[j] = v
				s2 += float64(v)
			}
		}
		f := float32(math.Exp(float64(float32(s1) / float32(s2))))
		if m.shape == shapeSCALE {
			for j, v := range src {
				dst[j] = v * f
			}
		} else {
			for j := range dst {
				dst[j] *= f
			}
		}
	}
}
