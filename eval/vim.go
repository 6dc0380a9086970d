package eval

import (
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"

	"plp/kernels/cpu"
)

var vimMethod = &Method{
	Name:  "vim",
	Paper: "Wang et al., ViM: Out-Of-Distribution with Virtual-logit Matching, CVPR 2022",
	Needs: NeedFeatures | NeedHead,
	Params: []ParamSpec{
		{Name: "dim", Kind: IntParam, Default: "256", Min: 1, Max: math.MaxInt32, Doc: "dimension of the principal subspace (less than the feature width)"},
	},
	fit: fitViM,
}

// ViM is virtual-logit matching: with the origin moved to u = −pinv(W)·b, the training features'
// (uncentred) covariance gives a principal subspace of dimension Dim; a sample's virtual logit is the
// norm of its residual outside that subspace, scaled by alpha (mean maximum train logit over mean train
// residual norm), and the score is energy minus the virtual logit.
type ViM struct {
	Dim   int
	Alpha float32
	dim   int // feature width
	c     int
	w, b  []float32
	u     []float32 // the origin
	ns    []float32 // [dim, dim−Dim] the residual subspace
	nsDim int
}

func fitViM(s Setting, d *FitData) (Detector, error) {
	k := s.Int("dim")
	D, C := d.Dim, d.Classes
	if k >= D {
		return nil, fmt.Errorf("dim=%d must be less than the feature width %d (set vim.dim)", k, D)
	}
	n := len(d.Features) / D
	u, err := vimOrigin(d.Weight, d.Bias, C, D)
	if err != nil {
		return nil, err
	}
	xc := make([]float32, n*D)
	for i := 0; i < n; i++ {
		for j := 0; j < D; j++ {
			xc[i*D+j] = d.Features[i*D+j] - u[j]
		}
	}
	// sklearn's EmpiricalCovariance(assume_centered=True) on float32 data: XᵀX / n in float32.
	_, vecs, err := symEigen(centeredCov32(xc, n, D), D)
	if err != nil {
		return nil, err
	}
	// Eigenvalues ascend, so the residual space is spanned by the first D−k eigenvectors.
	m := &ViM{Dim: k, dim: D, c: C, w: d.Weight, b: d.Bias, u: u, nsDim: D - k}
	m.ns = make([]float32, D*m.nsDim)
	for i := 0; i < D; i++ {
		for j := 0; j < m.nsDim; j++ {
			m.ns[i*m.nsDim+j] = float32(vecs[i*D+j])
		}
	}
	logits := headLogits(d.Features, n, D, d.Weight, d.Bias, C)
	var sumMax float64
	for i := 0; i < n; i++ {
		sumMax += float64(maxOf(logits[i*C : (i+1)*C]))
	}
	var sumRes float64
	for _, v := range m.residualNorms(xc, n) {
		sumRes += float64(v)
	}
	if sumRes == 0 {
		return nil, errors.New("the training features lie in the principal subspace (no residual)")
	}
	m.Alpha = float32(sumMax/float64(n)) / float32(sumRes/float64(n))
	return m, nil
}

// vimOrigin returns −pinv(W)·b in float64, rounded to float32 (numpy computes in double for float32 input).
func vimOrigin(w, b []float32, c, d int) ([]float32, error) {
	wm := mat.NewDense(c, d, nil)
	for i := 0; i < c; i++ {
		for j := 0; j < d; j++ {
			wm.Set(i, j, float64(w[i*d+j]))
		}
	}
	var svd mat.SVD
	if !svd.Factorize(wm, mat.SVDThin) {
		return nil, errors.New("SVD of the head's weight did not converge")
	}
	sv := svd.Values(nil)
	var um, vm mat.Dense
	svd.UTo(&um)
	svd.VTo(&vm)
	cut := 1e-15 * sv[0]
	u := make([]float32, d)
	for j := 0; j < d; j++ {
		s := 0.0
		for r, sr := range sv {
			if sr <= cut {
				continue
			}
			ub := 0.0
			for i := 0; i < c; i++ {
				ub += um.At(i, r) * float64(b[i])
			}
			s += vm.At(j, r) * ub / sr
		}
		u[j] = float32(-s)
	}
	return u, nil
}

// residualNorms returns ‖x·NS‖ for the centred rows x of xc ([n, dim]).
func (m *ViM) residualNorms(xc []float32, n int) []float32 {
	out := make([]float32, n)
	const chunk = 1024
	buf := make([]float32, min(chunk, n)*m.nsDim)
	for lo := 0; lo < n; lo += chunk {
		r := min(chunk, n-lo)
		cpu.Sgemm(false, false, r, m.nsDim, m.dim, 1, xc[lo*m.dim:], m.dim, m.ns, m.nsDim, 0, buf, m.nsDim)
		for i := 0; i < r; i++ {
			s := 0.0
			for _, v := range buf[i*m.nsDim : (i+1)*m.nsDim] {
				s += float64(v) * float64(v)
			}
			out[lo+i] = float32(math.Sqrt(s))
		}
	}
	return out
}

// Score implements Detector on b.Features.
func (m *ViM) Score(b Batch) ([]float64, error) {
	n, err := batchRows(b, NeedFeatures, m.dim, m.c)
	if err != nil {
		return nil, err
	}
	xc := make([]float32, len(b.Features))
	for i := 0; i < n; i++ {
		for j := 0; j < m.dim; j++ {
			xc[i*m.dim+j] = b.Features[i*m.dim+j] - m.u[j]
		}
	}
	res := m.residualNorms(xc, n)
	energy := logSumExpRows(headLogits(b.Features, n, m.dim, m.w, m.b, m.c), m.c)
	out := make([]float64, n)
	for i := range out {
		out[i] = float64(energy[i] - res[i]*m.Alpha)
	}
	return out, nil
}
