package eval

import (
	"fmt"
	"math"
)

// The logit scores below take logits as a row-major [n, classes] float32 slice and return one float32
// score per row, higher = more in-distribution. They are computed in float64 and rounded to float32,
// as the paper's scores are float32 tensors; the float32 rounding keeps the reference's tie structure
// (e.g. MSP saturating at exactly 1).

// MSP is the maximum softmax probability of logits/temperature.
func MSP(logits []float32, classes int, temperature float64) ([]float32, error) {
	n, err := scaledRows(logits, classes, temperature)
	if err != nil {
		return nil, err
	}
	t := float32(temperature)
	out := make([]float32, n)
	z := make([]float32, classes)
	for i := range out {
		divide(z, logits[i*classes:(i+1)*classes], t)
		m := maxOf(z)
		s := 0.0
		for _, v := range z {
			s += math.Exp(float64(v) - float64(m))
		}
		// The arg-max probability is exp(0)/sum; rounding the sum to float32 first mirrors the
		// reference, whose float32 sum is exactly 1 once the other terms fall below half an ulp.
		out[i] = 1 / float32(s)
	}
	return out, nil
}

// Energy is the negative free energy T·logsumexp(logits/T) (Liu et al. 2020).
func Energy(logits []float32, classes int, temperature float64) ([]float32, error) {
	n, err := scaledRows(logits, classes, temperature)
	if err != nil {
		return nil, err
	}
	t := float32(temperature)
	out := make([]float32, n)
	z := make([]float32, classes)
	for i := range out {
		divide(z, logits[i*classes:(i+1)*classes], t)
		m := float64(maxOf(z))
		s := 0.0
		for _, v := range z {
			s += math.Exp(float64(v) - m)
		}
		out[i] = t * float32(m+math.Log(s))
	}
	return out, nil
}

// L1Norm is the paper's l1_norm score: the L1 norm of each row after subtracting its minimum,
// Σ|l - min(l)|. The paper passes the temperature into l1_norm's non_neg flag, so the shift is always
// applied and the temperature has no effect; this function therefore takes none.
func L1Norm(logits []float32, classes int) ([]float32, error) {
	n, err := rows(len(logits), classes, "logits")
	if err != nil {
		return nil, err
	}
	out := make([]float32, n)
	for i := range out {
		row := logits[i*classes : (i+1)*classes]
		m := minOf(row)
		s := 0.0
		for _, v := range row {
			s += math.Abs(float64(v - m))
		}
		out[i] = float32(s)
	}
	return out, nil
}

// Norm selects the normalisation of MaxNormalized, the paper's OOD_cls_max_val.
type Norm string

const (
	NormSoftmax Norm = "softmax" // softmax, i.e. MSP at temperature 1
	NormL2      Norm = "l2"      // divide by max(‖l‖₂, 1e-12)
	NormL1      Norm = "l1"      // divide by max(‖l‖₁, 1e-12)
	NormNone    Norm = "none"    // raw logits: the max-logit score
)

// MethodMax is the Record method of MaxNormalized; its record names the norm ({"norm": "l2"}).
const MethodMax = "max"

// MaxLogit is the largest logit of each row.
func MaxLogit(logits []float32, classes int) ([]float32, error) {
	return MaxNormalized(logits, classes, NormNone)
}

// MaxNormalized is the row maximum after normalising each row by norm.
func MaxNormalized(logits []float32, classes int, norm Norm) ([]float32, error) {
	switch norm {
	case NormSoftmax:
		return MSP(logits, classes, 1)
	case NormL2, NormL1, NormNone:
	default:
		return nil, fmt.Errorf("eval: unknown norm %q (want softmax, l2, l1 or none)", norm)
	}
	n, err := rows(len(logits), classes, "logits")
	if err != nil {
		return nil, err
	}
	out := make([]float32, n)
	for i := range out {
		row := logits[i*classes : (i+1)*classes]
		m := maxOf(row)
		if norm == NormNone {
			out[i] = m
			continue
		}
		s := 0.0
		for _, v := range row {
			if norm == NormL2 {
				s += float64(v) * float64(v)
			} else {
				s += math.Abs(float64(v))
			}
		}
		if norm == NormL2 {
			s = math.Sqrt(s)
		}
		out[i] = m / max(float32(s), 1e-12)
	}
	return out, nil
}

// Softmax returns the row-wise softmax of logits ([n, classes]).
func Softmax(logits []float32, classes int) ([]float32, error) {
	n, err := rows(len(logits), classes, "logits")
	if err != nil {
		return nil, err
	}
	out := make([]float32, len(logits))
	e := make([]float64, classes)
	for i := 0; i < n; i++ {
		row := logits[i*classes : (i+1)*classes]
		m := float64(maxOf(row))
		s := 0.0
		for j, v := range row {
			e[j] = math.Exp(float64(v) - m)
			s += e[j]
		}
		for j := range e {
			out[i*classes+j] = float32(e[j] / s)
		}
	}
	return out, nil
}

// scaledRows validates logits and a temperature and returns the number of rows.
func scaledRows(logits []float32, classes int, temperature float64) (int, error) {
	if !(temperature > 0) || math.IsInf(temperature, 0) {
		return 0, fmt.Errorf("eval: temperature %v must be positive and finite", temperature)
	}
	return rows(len(logits), classes, "logits")
}

// rows checks that a row-major matrix of n values has rows of cols and returns the row count.
func rows(n, cols int, what string) (int, error) {
	if cols <= 0 {
		return 0, fmt.Errorf("eval: %s: row length %d must be positive", what, cols)
	}
	if n%cols != 0 {
		return 0, fmt.Errorf("eval: %s: %d values are not rows of %d", what, n, cols)
	}
	return n / cols, nil
}

// divide sets dst = src / t in float32, as the reference divides float32 logits by the temperature.
func divide(dst, src []float32, t float32) {
	for j, v := range src {
		dst[j] = v / t
	}
}

func maxOf(s []float32) float32 {
	m := s[0]
	for _, v := range s[1:] {
		if v > m || v != v {
			m = v
		}
	}
	return m
}

func minOf(s []float32) float32 {
	m := s[0]
	for _, v := range s[1:] {
		if v < m || v != v {
			m = v
		}
	}
	return m
}

// argmax returns the index of the first maximum.
func argmax(s []float32) int {
	k := 0
	for j, v := range s {
		if v > s[k] {
			k = j
		}
	}
	return k
}

// ScoreLogits computes a logit score by its Record method name: msp and energy at the temperature,
// l1_norm and max_logit (which ignore it), and pseudo_msp, which is MSP on zero-shot logits.
func ScoreLogits(method string, logits []float32, classes int, temperature float64) ([]float32, error) {
	switch method {
	case MethodMSP, MethodPseudoMSP:
		return MSP(logits, classes, temperature)
	case MethodEnergy:
		return Energy(logits, classes, temperature)
	case MethodL1Norm:
		return L1Norm(logits, classes)
	case MethodMaxLogit:
		return MaxLogit(logits, classes)
	}
	return nil, fmt.Errorf("eval: %q is not a logit score (want msp, energy, l1_norm, max_logit or pseudo_msp)", method)
}
