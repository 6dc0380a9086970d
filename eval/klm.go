package eval

import "math"

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
	out := make([]float64, n)
	parallelRows(n, func(i int) {
		p := make([]float32, c)
		torchSoftmax(p, b.Logits[i*c:(i+1)*c])
		best := math.Inf(1)
		for k := 0; k < c; k++ {
			best = min(best, klDivergence(p, m.templates[k*c:(k+1)*c]))
		}
		out[i] = -best
	})
	return out, nil
}

// klDivergence is scipy.stats.entropy(p, q) on float32 vectors, as sklearn's pairwise distance calls
// it: both are normalised by their numpy float32 sums, each term p·log(p/q) is rel_entr's (computed in
// float64, rounded to float32; 0 for p = 0, +Inf for q = 0 < p) and the terms are summed as numpy does.
func klDivergence(p, q []float32) float64 {
	sp, sq := numpySum32(p), numpySum32(q)
	terms := make([]float32, len(p))
	for j := range p {
		pj, qj := p[j]/sp, q[j]/sq
		switch {
		case pj == 0:
		case qj == 0:
			return math.Inf(1)
		default:
			x, y := float64(pj), float64(qj)
			terms[j] = float32(x * math.Log(x/y))
		}
	}
	return float64(numpySum32(terms))
}

// numpySum32 is numpy's float32 sum of a short contiguous vector: pairwise summation, which below 8
// values is a plain loop and from 8 to 128 values uses eight running sums combined as a tree.
func numpySum32(a []float32) float32 {
	n := len(a)
	if n < 8 {
		var s float32
		for _, v := range a {
			s += v
		}
		return s
	}
	if n <= 128 {
		var r [8]float32
		copy(r[:], a[:8])
		i := 8
		for ; i < n-n%8; i += 8 {
			for k := range r {
				r[k] += a[i+k]
			}
		}
		s := ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
		for ; i < n; i++ {
			s += a[i]
		}
		return s
	}
	h := n / 2
	h -= h % 8
	return numpySum32(a[:h]) + numpySum32(a[h:])
}
