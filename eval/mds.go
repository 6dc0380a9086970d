package eval

import (
	"errors"
	"math"

	"plp/kernels/cpu"
)

var (
	mdsMethod = &Method{
		Name:  "mds",
		Paper: "Lee et al., A Simple Unified Framework for Detecting Out-of-Distribution Samples and Adversarial Attacks, NeurIPS 2018",
		Needs: NeedFeatures | NeedLabels,
		fit:   func(_ Setting, d *FitData) (Detector, error) { return fitMDS(d, false) },
	}
	rmdsMethod = &Method{
		Name:  "rmds",
		Paper: "Ren et al., A Simple Fix to Mahalanobis Distance for Improving Near-OOD Detection, arXiv 2106.09022, 2021",
		Needs: NeedFeatures | NeedLabels,
		fit:   func(_ Setting, d *FitData) (Detector, error) { return fitMDS(d, true) },
	}
)

// MDS is OpenOOD's Mahalanobis score (mds) and, with Relative set, its relative Mahalanobis score
// (rmds). Class means come from the training features by label; the shared covariance is the biased
// (divisor n) covariance of all features centred at their class means, inverted as a pseudo-inverse
// (scipy's pinvh: eigenvalues below n_dim·ε_float32 of the largest are dropped), as sklearn's
// EmpiricalCovariance does. A sample scores −min_c d_c(x), d_c the squared Mahalanobis distance to
// class c; rmds subtracts from each d_c the distance d_0 under the mean and covariance of all training
// features, scoring d_0(x) − min_c d_c(x). Classes without training samples are skipped.
type MDS struct {
	Relative bool
	dim      int
	class    whitener
	means    []float32 // [len(classes), r] whitened class means
	meanSq   []float32 // their squared norms
	nClasses int
	whole    whitener
}

// whitener maps x to (x − center)·F with F·Fᵀ the pseudo-inverse of a covariance.
type whitener struct {
	center []float32
	f      []float32 // [dim, r]
	r      int
}

func fitMDS(d *FitData, relative bool) (*MDS, error) {
	cls, err := memoize(d, "mds/class", func() (*mdsClass, error) { return fitMDSClass(d) })
	if err != nil {
		return nil, err
	}
	m := &MDS{Relative: relative, dim: d.Dim, class: cls.w, means: cls.means, meanSq: cls.meanSq, nClasses: cls.n}
	if relative {
		D := d.Dim
		n := len(d.Features) / D
		whole := make([]float32, D)
		for j, v := range cls.global {
			whole[j] = float32(v)
		}
		all := make([]float32, n*D)
		for i := 0; i < n; i++ {
			for j := 0; j < D; j++ {
				all[i*D+j] = d.Features[i*D+j] - whole[j]
			}
		}
		if m.whole, err = newWhitener(all, n, D, cls.global); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// mdsClass is the class part of MDS, shared by mds and rmds.
type mdsClass struct {
	w      whitener
	means  []float32
	meanSq []float32
	n      int
	global []float64 // mean of all training features
}

func fitMDSClass(d *FitData) (*mdsClass, error) {
	D, C := d.Dim, d.Classes
	n := len(d.Features) / D
	x := d.Features
	// Class means in float64, rounded to float32 as torch's mean; the features centred at them.
	sums := make([]float64, C*D)
	counts := make([]int, C)
	for i, l := range d.Labels {
		counts[l]++
		for j, v := range x[i*D : (i+1)*D] {
			sums[int(l)*D+j] += float64(v)
		}
	}
	var present []int
	for c, k := range counts {
		if k > 0 {
			present = append(present, c)
		}
	}
	mean := make([]float32, C*D)
	for _, c := range present {
		for j := 0; j < D; j++ {
			mean[c*D+j] = float32(sums[c*D+j] / float64(counts[c]))
		}
	}
	centred := make([]float32, n*D)
	for i, l := range d.Labels {
		for j, v := range x[i*D : (i+1)*D] {
			centred[i*D+j] = v - mean[int(l)*D+j]
		}
	}
	cls := &mdsClass{global: columnMean64(x, n, D), n: len(present)}
	var err error
	if cls.w, err = newWhitener(centred, n, D, cls.global); err != nil {
		return nil, err
	}
	cls.means = make([]float32, len(present)*cls.w.r)
	cm := make([]float32, len(present)*D)
	for k, c := range present {
		copy(cm[k*D:(k+1)*D], mean[c*D:(c+1)*D])
	}
	cls.w.apply(cm, len(present), D, cls.means)
	cls.meanSq = make([]float32, len(present))
	for k := range cls.meanSq {
		cls.meanSq[k] = sqNorm32(cls.means[k*cls.w.r : (k+1)*cls.w.r])
	}
	return cls, nil
}

// centeredCov32 is sklearn's EmpiricalCovariance of centred float32 data xc ([n, dim]), as it computes
// it on float32 input: XᵀX / n rounded in float32, returned widened to float64 for the eigensolver.
func centeredCov32(xc []float32, n, dim int) []float64 {
	g := make([]float32, dim*dim)
	cpu.Sgemm(true, false, dim, dim, n, 1, xc, dim, xc, dim, 0, g, dim)
	cov := make([]float64, dim*dim)
	for i, v := range g {
		cov[i] = float64(v / float32(n))
	}
	return cov
}

// newWhitener fits sklearn's EmpiricalCovariance (assume_centered=False: the data's own float32 mean
// is subtracted, divisor n) on x ([n, dim]) and factors its pseudo-inverse. The whitener is centred at
// center, which keeps the expanded distances of Score free of large cancellation. x is a scratch copy
// the caller gives up: it is centred in place, so that ImageNet-size training sets are not copied again.
func newWhitener(x []float32, n, dim int, center []float64) (whitener, error) {
	mu := columnMean32(x, n, dim)
	xc := x
	for i := 0; i < n; i++ {
		for j := 0; j < dim; j++ {
			xc[i*dim+j] -= mu[j]
		}
	}
	vals, vecs, err := symEigen(centeredCov32(xc, n, dim), dim)
	if err != nil {
		return whitener{}, err
	}
	top := 0.0
	for _, v := range vals {
		top = max(top, math.Abs(v))
	}
	cut := float64(dim) * float64(math.Nextafter32(1, 2)-1) * top
	var keep []int
	for k, v := range vals {
		if math.Abs(v) > cut {
			keep = append(keep, k)
		}
	}
	if len(keep) == 0 {
		return whitener{}, errors.New("the training features have zero covariance")
	}
	for _, k := range keep {
		if vals[k] < 0 {
			return whitener{}, errors.New("the covariance has a negative eigenvalue above the cut-off")
		}
	}
	w := whitener{center: make([]float32, dim), r: len(keep), f: make([]float32, dim*len(keep))}
	for j, v := range center {
		w.center[j] = float32(v)
	}
	for c, k := range keep {
		s := 1 / math.Sqrt(vals[k])
		for i := 0; i < dim; i++ {
			w.f[i*w.r+c] = float32(vecs[i*dim+k] * s)
		}
	}
	return w, nil
}

// apply writes (x − center)·F for the rows of x ([n, dim]) into z ([n, r]).
func (w whitener) apply(x []float32, n, dim int, z []float32) {
	const chunk = 2048
	buf := make([]float32, min(chunk, n)*dim)
	for lo := 0; lo < n; lo += chunk {
		r := min(chunk, n-lo)
		for i := 0; i < r; i++ {
			for j := 0; j < dim; j++ {
				buf[i*dim+j] = x[(lo+i)*dim+j] - w.center[j]
			}
		}
		cpu.Sgemm(false, false, r, w.r, dim, 1, buf, dim, w.f, w.r, 0, z[lo*w.r:], w.r)
	}
}

// Score implements Detector on b.Features.
func (m *MDS) Score(b Batch) ([]float64, error) {
	n, err := batchRows(b, NeedFeatures, m.dim, 0)
	if err != nil {
		return nil, err
	}
	r := m.class.r
	z := make([]float32, n*r)
	m.class.apply(b.Features, n, m.dim, z)
	// d_c = ‖z‖² − 2 z·ν_c + ‖ν_c‖²: the cross terms for all classes in one GEMM.
	cross := make([]float32, n*m.nClasses)
	cpu.Sgemm(false, true, n, m.nClasses, r, 1, z, r, m.means, r, 0, cross, m.nClasses)
	var z0 []float32
	if m.Relative {
		z0 = make([]float32, n*m.whole.r)
		m.whole.apply(b.Features, n, m.dim, z0)
	}
	out := make([]float64, n)
	parallelRows(n, func(i int) {
		zz := float64(sqNorm32(z[i*r : (i+1)*r]))
		best := math.Inf(1)
		for k := 0; k < m.nClasses; k++ {
			best = min(best, zz-2*float64(cross[i*m.nClasses+k])+float64(m.meanSq[k]))
		}
		if m.Relative {
			d0 := float64(sqNorm32(z0[i*m.whole.r : (i+1)*m.whole.r]))
			out[i] = d0 - best
		} else {
			out[i] = -best
		}
	})
	return out, nil
}

// columnMean64 returns the mean of the rows of x ([n, dim]) in float64.
func columnMean64(x []float32, n, dim int) []float64 {
	s := make([]float64, dim)
	for i := 0; i < n; i++ {
		for j, v := range x[i*dim : (i+1)*dim] {
			s[j] += float64(v)
		}
	}
	for j := range s {
		s[j] /= float64(n)
	}
	return s
}
