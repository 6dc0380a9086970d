package eval

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/mat"
)

// Mahalanobis holds the training statistics of the paper's MahaDist, all in float64: class means, the
// unweighted mean of the per-class covariances and its inverse (for the Mahalanobis score), and the
// mean and covariance of the whole training set and its inverse (for the relative score of Ren et al.).
// Covariances are unbiased (divisor n-1) like torch.cov; classes with fewer than two training samples
// are skipped for the class statistics, as in the paper. Matrices are row-major. The fields report
// the fit; changing them does not change Scores, which works from forms derived at fit time.
type Mahalanobis struct {
	Dim        int
	Classes    []int     // labels of the classes used, ascending
	ClassMeans []float64 // [len(Classes), Dim]
	ClassCov   []float64 // [Dim, Dim] mean over Classes of the class covariances
	ClassPrec  []float64 // [Dim, Dim] inverse of ClassCov
	TrainMean  []float64 // [Dim]
	TrainCov   []float64 // [Dim, Dim] covariance of all training samples
	TrainPrec  []float64 // [Dim, Dim] inverse of TrainCov

	// Scoring works on coordinates centred at TrainMean, where the quadratic forms expand into
	// matrix products without large cancellation: d_c(x) = x'ᵀPx' − 2x'ᵀPμ'_c + μ'_cᵀPμ'_c.
	prec, trainPrec quadForm
	class, global   classForms // class means under ClassPrec and under TrainPrec
}

// classForms holds the centred class means transformed by one precision matrix P and their norms
// μ'_cᵀPμ'_c.
type classForms struct {
	means     blas64.General // [len(Classes), Dim]
	meanNorms []float64
}

// MahaCov selects the covariance of the class distances: the paper's MahaDist with std_all=False
// (class) or std_all=True (global).
type MahaCov string

const (
	CovClass  MahaCov = "class"  // the unweighted mean of the class covariances
	CovGlobal MahaCov = "global" // the covariance of all training samples (std_all)
)

// ParseMahaCov checks a covariance name.
func ParseMahaCov(s string) (MahaCov, error) {
	switch MahaCov(s) {
	case CovClass, CovGlobal:
		return MahaCov(s), nil
	}
	return "", fmt.Errorf("eval: unknown Mahalanobis covariance %q (want class or global)", s)
}

// quadForm evaluates xᵀPx for the rows of a matrix. With a Cholesky factor P = LLᵀ it computes
// y = Lᵀx and ‖y‖², half the work of y = Px and xᵀy (L is triangular); without one (P not numerically
// positive definite) it uses the symmetrised P itself.
type quadForm struct {
	m        blas64.General // L (lower triangular) or the symmetrised P
	cholesky bool
}

func newQuadForm(prec []float64, d int, cholesky bool) quadForm {
	sym := blas64.General{Rows: d, Cols: d, Stride: d, Data: make([]float64, d*d)}
	for i := 0; i < d; i++ {
		for j := 0; j < d; j++ {
			sym.Data[i*d+j] = (prec[i*d+j] + prec[j*d+i]) / 2
		}
	}
	if cholesky {
		var ch mat.Cholesky
		if ch.Factorize(mat.NewSymDense(d, sym.Data)) {
			var l mat.TriDense
			ch.LTo(&l)
			out := blas64.General{Rows: d, Cols: d, Stride: d, Data: make([]float64, d*d)}
			for i := 0; i < d; i++ {
				for j := 0; j <= i; j++ {
					out.Data[i*d+j] = l.At(i, j)
				}
			}
			return quadForm{m: out, cholesky: true}
		}
	}
	return quadForm{m: sym}
}

// transform sets the rows of y to Lᵀx (Cholesky) or Px (otherwise) for the rows x of a.
func (f quadForm) transform(a, y blas64.General) {
	if !f.cholesky {
		blas64.Gemm(blas.NoTrans, blas.NoTrans, 1, a, f.m, 0, y)
		return
	}
	// Column strip [j0, j1) of A·L only involves rows j0.. of L, as L[i][j] = 0 for i < j.
	const strip = 128
	d := f.m.Rows
	for j0 := 0; j0 < d; j0 += strip {
		j1 := min(j0+strip, d)
		av := blas64.General{Rows: a.Rows, Cols: d - j0, Stride: a.Stride, Data: a.Data[j0:]}
		lv := blas64.General{Rows: d - j0, Cols: j1 - j0, Stride: f.m.Stride, Data: f.m.Data[j0*f.m.Stride+j0:]}
		yv := blas64.General{Rows: y.Rows, Cols: j1 - j0, Stride: y.Stride, Data: y.Data[j0:]}
		blas64.Gemm(blas.NoTrans, blas.NoTrans, 1, av, lv, 0, yv)
	}
}

// norm returns xᵀPx from a row x and its transform y.
func (f quadForm) norm(x, y []float64) float64 {
	if f.cholesky {
		return dot(y, y)
	}
	return dot(x, y)
}

// crossLeft is the matrix whose rows meet the transformed means in the cross term x'ᵀPμ'_c: the
// transformed rows (Lᵀx'·Lᵀμ') or the rows themselves (x'·Pμ').
func (f quadForm) crossLeft(x, y blas64.General) blas64.General {
	if f.cholesky {
		return y
	}
	return x
}

// FitMahalanobis computes the statistics from training embeddings ([n, dim]) with integer labels in
// [0, numClasses); numClasses <= 0 accepts any non-negative label. A singular covariance is an error; an
// ill-conditioned one is inverted anyway, as torch.inverse does.
func FitMahalanobis(train []float32, dim int, labels []int64, numClasses int) (*Mahalanobis, error) {
	n, err := rows(len(train), dim, "training embeddings")
	if err != nil {
		return nil, err
	}
	if n != len(labels) {
		return nil, fmt.Errorf("eval: %d training rows but %d labels", n, len(labels))
	}
	if n < 2 {
		return nil, fmt.Errorf("eval: Mahalanobis needs at least 2 training samples, got %d", n)
	}
	if err := finite(train, dim, "training embedding"); err != nil {
		return nil, err
	}
	// Grouped through a map so that a huge label cannot force a huge allocation.
	groups := map[int64][]int{}
	for i, l := range labels {
		if l < 0 {
			return nil, fmt.Errorf("eval: label %d of sample %d is negative", l, i)
		}
		if numClasses > 0 && l >= int64(numClasses) {
			return nil, fmt.Errorf("eval: label %d of sample %d is outside [0, %d)", l, i, numClasses)
		}
		groups[l] = append(groups[l], i)
	}
	classIDs := slices.Sorted(maps.Keys(groups))

	m := &Mahalanobis{Dim: dim, TrainMean: make([]float64, dim)}
	for i := 0; i < n; i++ {
		for j, v := range train[i*dim : (i+1)*dim] {
			m.TrainMean[j] += float64(v)
		}
	}
	for j := range m.TrainMean {
		m.TrainMean[j] /= float64(n)
	}

	// The total scatter is the sum of the within-class scatters plus n_c·δδᵀ with δ = μ_c − μ, so one
	// pass over the classes yields both covariances.
	classCov := make([]float64, dim*dim)
	totalScatter := make([]float64, dim*dim)
	scatter := make([]float64, dim*dim)
	for _, c := range classIDs {
		idx := groups[c]
		mean := make([]float64, dim)
		for _, i := range idx {
			for j, v := range train[i*dim : (i+1)*dim] {
				mean[j] += float64(v)
			}
		}
		for j := range mean {
			mean[j] /= float64(len(idx))
		}
		if len(idx) > 1 {
			centredScatter(scatter, train, dim, idx, mean)
			inv := 1 / float64(len(idx)-1)
			for k, v := range scatter {
				classCov[k] += v * inv
				totalScatter[k] += v
			}
			m.Classes = append(m.Classes, int(c))
			m.ClassMeans = append(m.ClassMeans, mean...)
		}
		w := float64(len(idx))
		for a := 0; a < dim; a++ {
			da := mean[a] - m.TrainMean[a]
			for b := 0; b < dim; b++ {
				totalScatter[a*dim+b] += w * da * (mean[b] - m.TrainMean[b])
			}
		}
	}
	if len(m.Classes) == 0 {
		return nil, errors.New("eval: Mahalanobis needs a class with at least 2 training samples")
	}
	for k := range classCov {
		classCov[k] /= float64(len(m.Classes))
		totalScatter[k] /= float64(n - 1)
	}
	m.ClassCov, m.TrainCov = classCov, totalScatter
	if m.ClassPrec, err = inverse(classCov, dim, "mean class covariance"); err != nil {
		return nil, err
	}
	if m.TrainPrec, err = inverse(totalScatter, dim, "training covariance"); err != nil {
		return nil, err
	}
	m.prepare(true)
	return m, nil
}

// centredScatter sets dst = Σ_{i∈idx} (x_i − mean)(x_i − mean)ᵀ. Only the upper triangle is
// computed, as strips of general NN products (gonum's fastest, parallel layout), then mirrored: about
// half the work of one full product.
func centredScatter(dst []float64, x []float32, dim int, idx []int, mean []float64) {
	n := len(idx)
	d := make([]float64, n*dim)  // [n, dim]
	dt := make([]float64, dim*n) // [dim, n]
	for r, i := range idx {
		for j, v := range x[i*dim : (i+1)*dim] {
			c := float64(v) - mean[j]
			d[r*dim+j] = c
			dt[j*n+r] = c
		}
	}
	const strip = 128
	for lo := 0; lo < dim; lo += strip {
		hi := min(lo+strip, dim)
		a := blas64.General{Rows: hi - lo, Cols: n, Stride: n, Data: dt[lo*n:]}
		b := blas64.General{Rows: n, Cols: dim - lo, Stride: dim, Data: d[lo:]}
		c := blas64.General{Rows: hi - lo, Cols: dim - lo, Stride: dim, Data: dst[lo*dim+lo:]}
		blas64.Gemm(blas.NoTrans, blas.NoTrans, 1, a, b, 0, c)
	}
	for i := 0; i < dim; i++ {
		for j := 0; j < i; j++ {
			dst[i*dim+j] = dst[j*dim+i]
		}
	}
}

// inverse inverts a dim×dim matrix by LU decomposition with partial pivoting (what torch.inverse does).
func inverse(a []float64, dim int, what string) ([]float64, error) {
	var inv mat.Dense
	if err := inv.Inverse(mat.NewDense(dim, dim, append([]float64(nil), a...))); err != nil {
		var cond mat.Condition
		if !errors.As(err, &cond) || math.IsInf(float64(cond), 1) {
			return nil, fmt.Errorf("eval: cannot invert the %s: %w", what, err)
		}
	}
	return inv.RawMatrix().Data, nil
}

var posInf = math.Inf(1)

// prepare derives the scoring forms, with Cholesky factors unless told otherwise.
func (m *Mahalanobis) prepare(cholesky bool) {
	m.prec = newQuadForm(m.ClassPrec, m.Dim, cholesky)
	m.trainPrec = newQuadForm(m.TrainPrec, m.Dim, cholesky)
	m.class = m.forms(m.prec)
	m.global = m.forms(m.trainPrec)
}

func (m *Mahalanobis) forms(f quadForm) classForms {
	d, k := m.Dim, len(m.Classes)
	centred := blas64.General{Rows: k, Cols: d, Stride: d, Data: make([]float64, k*d)}
	for c := 0; c < k; c++ {
		for j := 0; j < d; j++ {
			centred.Data[c*d+j] = m.ClassMeans[c*d+j] - m.TrainMean[j]
		}
	}
	out := classForms{means: blas64.General{Rows: k, Cols: d, Stride: d, Data: make([]float64, k*d)}, meanNorms: make([]float64, k)}
	f.transform(centred, out.means)
	for c := 0; c < k; c++ {
		out.meanNorms[c] = f.norm(centred.Data[c*d:(c+1)*d], out.means.Data[c*d:(c+1)*d])
	}
	return out
}

// Scores returns, for each row of x ([n, Dim]), the Mahalanobis score −min_c d_c(x) and the relative
// score −min_c (d_c(x) − d_0(x)), where d_c uses class mean c and ClassPrec and d_0 uses TrainMean and
// TrainPrec. Both are higher for more in-distribution samples.
func (m *Mahalanobis) Scores(x []float32) (maha, relative []float64, err error) {
	return m.ScoresCov(x, CovClass)
}

// ScoresCov is Scores with the class distances d_c taken under the chosen covariance: ClassPrec
// (CovClass) or TrainPrec (CovGlobal, the paper's std_all). d_0 always uses TrainPrec.
func (m *Mahalanobis) ScoresCov(x []float32, cov MahaCov) (maha, relative []float64, err error) {
	prec, cf := m.prec, m.class
	switch cov {
	case CovClass:
	case CovGlobal:
		prec, cf = m.trainPrec, m.global
	default:
		_, err := ParseMahaCov(string(cov))
		return nil, nil, err
	}
	n, err := rows(len(x), m.Dim, "embeddings")
	if err != nil {
		return nil, nil, err
	}
	if err := finite(x, m.Dim, "embedding"); err != nil {
		return nil, nil, err
	}
	d, k := m.Dim, len(m.Classes)
	maha, relative = make([]float64, n), make([]float64, n)
	const block = 512
	xc := make([]float64, block*d)
	y := make([]float64, block*d)
	g := make([]float64, block*k)
	for lo := 0; lo < n; lo += block {
		b := min(block, n-lo)
		for i := 0; i < b; i++ {
			for j, v := range x[(lo+i)*d : (lo+i+1)*d] {
				xc[i*d+j] = float64(v) - m.TrainMean[j]
			}
		}
		xg := blas64.General{Rows: b, Cols: d, Stride: d, Data: xc[:b*d]}
		yg := blas64.General{Rows: b, Cols: d, Stride: d, Data: y[:b*d]}
		gg := blas64.General{Rows: b, Cols: k, Stride: k, Data: g[:b*k]}

		prec.transform(xg, yg)
		blas64.Gemm(blas.NoTrans, blas.Trans, 1, prec.crossLeft(xg, yg), cf.means, 0, gg)
		for i := 0; i < b; i++ {
			q := prec.norm(xc[i*d:(i+1)*d], y[i*d:(i+1)*d])
			best := posInf
			for c := 0; c < k; c++ {
				best = min(best, cf.meanNorms[c]-2*g[i*k+c])
			}
			maha[lo+i] = -(q + best)
			if cov == CovGlobal {
				// Under TrainPrec, q = x'ᵀPx' (x' centred at TrainMean) is d_0 itself, so it cancels.
				relative[lo+i] = -best
			} else {
				relative[lo+i] = q + best // completed below once d_0 is known
			}
		}
		if cov == CovGlobal {
			continue
		}
		m.trainPrec.transform(xg, yg)
		for i := 0; i < b; i++ {
			d0 := m.trainPrec.norm(xc[i*d:(i+1)*d], y[i*d:(i+1)*d])
			relative[lo+i] = -(relative[lo+i] - d0)
		}
	}
	return maha, relative, nil
}

func dot(a, b []float64) float64 {
	s := 0.0
	for i, v := range a {
		s += v * b[i]
	}
	return s
}
