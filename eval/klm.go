package eval

import (
	"math"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
)

var klmMethod = &Method{
	Name:  "klm",
	Paper: "Hendrycks et al., Scaling Out-of-Distribution Detection for Real-World Settings, ICML 2022 (KL matching)",
	Needs: NeedLogits,
	fit:   fitKLM,
}

// KLM is KL matching: the training samples are grouped by predicted class and each class keeps the mean
// of their softmax vectors (a one-hot vector for a class no training sample is predicted as); a sample
// scores minus the smallest KL divergence KL(p ‖ q_c) from its softmax p to a class template q_c.
type KLM struct {
	classes   int
	templates []float32 // [classes, classes]
}

func fitKLM(_ Setting, d *FitData) (Detector, error) {
	c := d.Classes
	n := len(d.Logits) / c
	sum := make([]float64, c*c)
	count := make([]int, c)
	p := make([]float32, c)
	for i := 0; i < n; i++ {
		row := d.Logits[i*c : (i+1)*c]
		torchSoftmax(p, row)
		k := argmax(row)
		count[k]++
		for j, v := range p {
			sum[k*c+j] += float64(v)
		}
	}
	m := &KLM{classes: c, templates: make([]float32, c*c)}
	for k := 0; k < c; k++ {
		for j := 0; j < c; j++ {
			switch {
			case count[k] > 0:
				m.templates[k*c+j] = float32(sum[k*c+j] / float64(count[k]))
			case j == k:
				m.templates[k*c+j] = 1
			}
		}
	}
	return m, nil
}

// Score implements Detector on b.Logits.
func (m *KLM) Score(b Batch) ([]float64, error) {
	n, err := batchRows(b, NeedLogits, 0, m.classes)
	if err != nil {
		return nil, err
	}
	c := m.classes
	// KL(p̂ ‖ q̂) = Σ p̂ log p̂ − Σ p̂ log q̂ with p̂, q̂ the normalised vectors. The cross terms of all
	// templates without zeros are one matrix product; a template with a zero (a class no training
	// sample is predicted as) is summed directly, so that 0·log 0 counts 0 and p̂ > 0 = q̂ counts +Inf.
	logQ := blas64.General{Rows: c, Cols: c, Stride: c, Data: make([]float64, c*c)}
	direct := make([]bool, c)
	for k := 0; k < c; k++ {
		q := m.templates[k*c : (k+1)*c]
		sq := 0.0
		for _, v := range q {
			sq += float64(v)
		}
		for j, v := range q {
			if v == 0 {
				direct[k] = true
			}
			logQ.Data[k*c+j] = math.Log(float64(v) / sq)
		}
		if direct[k] {
			clear(logQ.Data[k*c : (k+1)*c])
		}
	}
	p := blas64.General{Rows: n, Cols: c, Stride: c, Data: make([]float64, n*c)}
	self := make([]float64, n)
	parallelRows(n, func(i int) {
		row := make([]float32, c)
		torchSoftmax(row, b.Logits[i*c:(i+1)*c])
		sp := 0.0
		for _, v := range row {
			sp += float64(v)
		}
		for j, v := range row {
			x := float64(v) / sp
			p.Data[i*c+j] = x
			if x > 0 {
				self[i] += x * math.Log(x)
			}
		}
	})
	cross := blas64.General{Rows: n, Cols: c, Stride: c, Data: make([]float64, n*c)}
	if n > 0 {
		blas64.Gemm(blas.NoTrans, blas.Trans, 1, p, logQ, 0, cross)
	}
	out := make([]float64, n)
	parallelRows(n, func(i int) {
		best := math.Inf(1)
		pi := p.Data[i*c : (i+1)*c]
		for k := 0; k < c; k++ {
			if direct[k] {
				best = min(best, klDivergence(pi, m.templates[k*c:(k+1)*c]))
				continue
			}
			best = min(best, self[i]-cross.Data[i*c+k])
		}
		out[i] = -best
	})
	return out, nil
}

// klDivergence is scipy.stats.entropy(p, q) for a normalised p: q is normalised to sum 1, terms with
// p = 0 count 0 and a term with p > 0 = q makes the divergence infinite.
func klDivergence(p []float64, q []float32) float64 {
	sq := 0.0
	for _, v := range q {
		sq += float64(v)
	}
	s := 0.0
	for j, pj := range p {
		qj := float64(q[j]) / sq
		switch {
		case pj == 0:
		case qj == 0:
			return math.Inf(1)
		default:
			s += pj * math.Log(pj/qj)
		}
	}
	return s
}
