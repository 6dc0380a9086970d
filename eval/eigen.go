package eval

import (
	"errors"

	"gonum.org/v1/gonum/mat"
)

// symEigen returns the eigenvalues (ascending) and the eigenvectors (the columns of vecs, row-major
// [n, n]) of the symmetric matrix a ([n, n], row-major; only its upper triangle is read).
func symEigen(a []float64, n int) (vals, vecs []float64, err error) {
	var e mat.EigenSym
	if !e.Factorize(mat.NewSymDense(n, a), true) {
		return nil, nil, errors.New("eigendecomposition did not converge")
	}
	vals = e.Values(nil)
	var v mat.Dense
	e.VectorsTo(&v)
	vecs = make([]float64, n*n)
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			vecs[i*n+j] = v.At(i, j)
		}
	}
	return vals, vecs, nil
}
