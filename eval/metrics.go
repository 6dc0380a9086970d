package eval

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// Score is the element type of a score slice. Ties are decided on the values as given, so pass float32
// scores unconverted when the reference computed them in float32.
type Score interface{ ~float32 | ~float64 }

// ROC is a receiver operating characteristic curve as scikit-learn 1.2's roc_curve returns it with
// drop_intermediate=True: points at decreasing thresholds, starting at (0,0) with the threshold
// max(score)+1 and ending at (1,1). Collinear intermediate points are dropped.
type ROC struct {
	FPR, TPR, Thresholds []float64
}

// Metrics are the four detection metrics of one OOD set, in percent like the paper's tables.
type Metrics struct {
	AUROC   float64 // area under the ROC curve, ID positive
	FPR95   float64 // false positive rate at 95% true positive rate, the paper's interpolation
	AUPRIn  float64 // average precision with ID positive
	AUPROut float64 // average precision with OOD positive and negated scores
}

// curve holds, for each distinct score in decreasing order, the number of positives (tps) and negatives
// (fps) scoring at least that value: sklearn's _binary_clf_curve.
type curve struct {
	thr, tps, fps []float64
}

// binaryCurve sorts both sets and merges them at distinct values. Ties between a positive and a
// negative therefore fall on one threshold, which is what makes them count 1/2 in the AUROC.
func binaryCurve[S Score](pos, neg []S) (curve, error) {
	if len(pos) == 0 || len(neg) == 0 {
		return curve{}, fmt.Errorf("eval: need at least one ID and one OOD score (got %d and %d)", len(pos), len(neg))
	}
	p, err := sortedDesc(pos, "ID")
	if err != nil {
		return curve{}, err
	}
	n, err := sortedDesc(neg, "OOD")
	if err != nil {
		return curve{}, err
	}
	var c curve
	i, j := 0, 0
	for i < len(p) || j < len(n) {
		var v float64
		switch {
		case i == len(p):
			v = n[j]
		case j == len(n):
			v = p[i]
		default:
			v = max(p[i], n[j])
		}
		for i < len(p) && p[i] == v {
			i++
		}
		for j < len(n) && n[j] == v {
			j++
		}
		c.thr = append(c.thr, v)
		c.tps = append(c.tps, float64(i))
		c.fps = append(c.fps, float64(j))
	}
	return c, nil
}

// sortedDesc returns the scores as float64, sorted in decreasing order. NaN and ±Inf are rejected, as
// scikit-learn's input validation does.
func sortedDesc[S Score](s []S, what string) ([]float64, error) {
	out := make([]float64, len(s))
	for i, v := range s {
		f := float64(v)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("eval: %s score %d is %v; scores must be finite", what, i, f)
		}
		out[i] = f
	}
	slices.Sort(out)
	slices.Reverse(out)
	return out, nil
}

// ROCCurve returns the ROC curve of ID (positive) against OOD (negative) scores.
func ROCCurve[S Score](id, ood []S) (ROC, error) {
	c, err := binaryCurve(id, ood)
	if err != nil {
		return ROC{}, err
	}
	return c.roc(), nil
}

func (c curve) roc() ROC {
	thr, tps, fps := c.thr, c.tps, c.fps
	if len(fps) > 2 {
		// Keep the ends and every point where the second difference of fps or tps is non-zero.
		keep := []int{0}
		for k := 1; k < len(fps)-1; k++ {
			if fps[k+1]-2*fps[k]+fps[k-1] != 0 || tps[k+1]-2*tps[k]+tps[k-1] != 0 {
				keep = append(keep, k)
			}
		}
		keep = append(keep, len(fps)-1)
		pick := func(s []float64) []float64 {
			out := make([]float64, len(keep))
			for i, k := range keep {
				out[i] = s[k]
			}
			return out
		}
		thr, tps, fps = pick(thr), pick(tps), pick(fps)
	}
	nPos, nNeg := tps[len(tps)-1], fps[len(fps)-1]
	r := ROC{
		FPR:        make([]float64, len(fps)+1),
		TPR:        make([]float64, len(tps)+1),
		Thresholds: make([]float64, len(thr)+1),
	}
	r.Thresholds[0] = thr[0] + 1
	for k := range thr {
		r.FPR[k+1] = fps[k] / nNeg
		r.TPR[k+1] = tps[k] / nPos
		r.Thresholds[k+1] = thr[k]
	}
	return r
}

// AUROC is scikit-learn's roc_auc_score with ID as the positive class, as a fraction: the trapezoidal
// area under ROCCurve, so an ID score tied with an OOD score counts 1/2.
func AUROC[S Score](id, ood []S) (float64, error) {
	r, err := ROCCurve(id, ood)
	if err != nil {
		return 0, err
	}
	return r.area(), nil
}

// area is numpy.trapz(TPR, FPR), with numpy's summation order.
func (r ROC) area() float64 {
	terms := make([]float64, len(r.FPR)-1)
	for k := range terms {
		terms[k] = (r.FPR[k+1] - r.FPR[k]) * (r.TPR[k+1] + r.TPR[k]) / 2.0
	}
	return numpySum(terms)
}

// FPR95 is the paper's fpr95_score as a fraction: numpy.interp(0.95, TPR, FPR) on ROCCurve. Where some
// ROC points have TPR exactly 0.95 this is the largest FPR among them (interp takes the last point at or
// below 0.95); otherwise it interpolates linearly between the two points around 0.95.
func FPR95[S Score](id, ood []S) (float64, error) {
	r, err := ROCCurve(id, ood)
	if err != nil {
		return 0, err
	}
	return r.fprAt(0.95), nil
}

// fprAt is numpy.interp(x, TPR, FPR) for 0 <= x < 1. TPR starts at 0 and ends at 1, so the paper's two
// guard branches (no TPR >= x, or every TPR >= x) cannot occur.
func (r ROC) fprAt(x float64) float64 {
	xp, fp := r.TPR, r.FPR
	last := len(xp) - 1
	if x >= xp[last] {
		return fp[last]
	}
	// j is the last index with xp[j] <= x, as numpy's binary search returns for repeated values.
	j := 0
	for j+1 <= last && xp[j+1] <= x {
		j++
	}
	if xp[j] == x {
		return fp[j]
	}
	slope := (fp[j+1] - fp[j]) / (xp[j+1] - xp[j])
	return slope*(x-xp[j]) + fp[j]
}

// AveragePrecision is scikit-learn's average_precision_score with pos as the positive class, as a
// fraction: the sum over distinct thresholds of (recall increase) × precision, without interpolation.
func AveragePrecision[S Score](pos, neg []S) (float64, error) {
	c, err := binaryCurve(pos, neg)
	if err != nil {
		return 0, err
	}
	return c.averagePrecision(), nil
}

func (c curve) averagePrecision() float64 {
	// sklearn reverses the curve (recall decreasing), appends (recall 0, precision 1), and returns
	// -sum(diff(recall) * precision[:-1]); the same terms in the same order keep its rounding.
	k := len(c.tps)
	nPos := c.tps[k-1]
	recall := make([]float64, k+1)
	precision := make([]float64, k)
	for i := 0; i < k; i++ {
		src := k - 1 - i
		recall[i] = c.tps[src] / nPos
		precision[i] = c.tps[src] / (c.tps[src] + c.fps[src])
	}
	terms := make([]float64, k)
	for i := range terms {
		terms[i] = (recall[i+1] - recall[i]) * precision[i]
	}
	return -numpySum(terms)
}

// Compute returns all four metrics of ID against OOD scores, in percent (fraction × 100, as the paper's
// eval_ood scales them).
func Compute[S Score](id, ood []S) (Metrics, error) {
	c, err := binaryCurve(id, ood)
	if err != nil {
		return Metrics{}, err
	}
	r := c.roc()
	negID := make([]float64, len(id))
	for i, v := range id {
		negID[i] = -float64(v)
	}
	negOOD := make([]float64, len(ood))
	for i, v := range ood {
		negOOD[i] = -float64(v)
	}
	out, err := binaryCurve(negOOD, negID)
	if err != nil {
		return Metrics{}, err
	}
	return Metrics{
		AUROC:   r.area() * 100,
		FPR95:   r.fprAt(0.95) * 100,
		AUPRIn:  c.averagePrecision() * 100,
		AUPROut: out.averagePrecision() * 100,
	}, nil
}

// Accuracy is the percentage of rows of logits ([n, classes], row-major) whose arg-max (first index on
// ties) equals the label.
func Accuracy(logits []float32, classes int, labels []int64) (float64, error) {
	n, err := rows(len(logits), classes, "logits")
	if err != nil {
		return 0, err
	}
	if n != len(labels) {
		return 0, fmt.Errorf("eval: %d logit rows but %d labels", n, len(labels))
	}
	if n == 0 {
		return 0, errors.New("eval: accuracy of an empty set")
	}
	correct := 0
	for i := 0; i < n; i++ {
		if int64(argmax(logits[i*classes:(i+1)*classes])) == labels[i] {
			correct++
		}
	}
	return float64(correct) * 100 / float64(n), nil
}

// numpySum adds like numpy's add.reduce on a contiguous float64 array: the result starts at the
// identity 0 and the whole array goes to one pairwise summation (no casting means no buffering, so the
// iterator hands over the full length).
func numpySum(a []float64) float64 {
	return 0 + pairwiseSum(a)
}

// pairwiseSum is numpy's pairwise_sum: sequential below 8 elements, eight interleaved partial sums up to
// 128, and recursive halving (at a multiple of 8) beyond.
func pairwiseSum(a []float64) float64 {
	n := len(a)
	switch {
	case n < 8:
		s := 0.0
		for _, v := range a {
			s += v
		}
		return s
	case n <= 128:
		var r [8]float64
		copy(r[:], a[:8])
		i := 8
		for ; i < n-n%8; i += 8 {
			for j := range r {
				r[j] += a[i+j]
			}
		}
		s := ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
		for ; i < n; i++ {
			s += a[i]
		}
		return s
	default:
		n2 := n / 2
		n2 -= n2 % 8
		return pairwiseSum(a[:n2]) + pairwiseSum(a[n2:])
	}
}
