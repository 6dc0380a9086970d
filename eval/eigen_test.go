package eval

import (
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// TestSymEigen checks eigenpairs of random symmetric matrices, with clustered and repeated eigenvalues,
// against A·v = λ·v, orthonormality and gonum's eigenvalues.
func TestSymEigen(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tt := range []struct {
		name string
		n    int
		make func(n int) []float64
	}{
		{"random", 50, func(n int) []float64 {
			a := make([]float64, n*n)
			for i := 0; i < n; i++ {
				for j := i; j < n; j++ {
					a[i*n+j] = rng.NormFloat64()
					a[j*n+i] = a[i*n+j]
				}
			}
			return a
		}},
		{"gram, rank-deficient", 40, func(n int) []float64 {
			x := make([]float64, 10*n)
			for i := range x {
				x[i] = rng.NormFloat64()
			}
			a := make([]float64, n*n)
			for i := 0; i < n; i++ {
				for j := 0; j < n; j++ {
					for k := 0; k < 10; k++ {
						a[i*n+j] += x[k*n+i] * x[k*n+j]
					}
				}
			}
			return a
		}},
		{"repeated", 30, func(n int) []float64 {
			a := make([]float64, n*n)
			for i := 0; i < n; i++ {
				a[i*n+i] = float64(i % 3)
			}
			return a
		}},
		{"one", 1, func(int) []float64 { return []float64{-2} }},
		{"graded", 60, func(n int) []float64 {
			// Eigenvalues 10^0 .. 10^-12 in a random basis.
			var q mat.QR
			g := mat.NewDense(n, n, nil)
			for i := 0; i < n; i++ {
				for j := 0; j < n; j++ {
					g.Set(i, j, rng.NormFloat64())
				}
			}
			q.Factorize(g)
			var Q mat.Dense
			q.QTo(&Q)
			a := make([]float64, n*n)
			for i := 0; i < n; i++ {
				for j := 0; j < n; j++ {
					for k := 0; k < n; k++ {
						a[i*n+j] += Q.At(i, k) * math.Pow(10, -12*float64(k)/float64(n-1)) * Q.At(j, k)
					}
				}
			}
			return a
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			n := tt.n
			a := tt.make(n)
			vals, vecs, err := symEigen(a, n)
			if err != nil {
				t.Fatal(err)
			}
			scale := 0.0
			for _, v := range vals {
				scale = max(scale, math.Abs(v))
			}
			var ref mat.EigenSym
			if !ref.Factorize(mat.NewSymDense(n, append([]float64(nil), a...)), false) {
				t.Fatal("gonum failed")
			}
			want := ref.Values(nil)
			for c := 0; c < n; c++ {
				if math.Abs(vals[c]-want[c]) > 1e-12*max(scale, 1) {
					t.Errorf("eigenvalue %d = %g, gonum %g", c, vals[c], want[c])
				}
				if c > 0 && vals[c] < vals[c-1] {
					t.Errorf("eigenvalues not ascending at %d", c)
				}
				// Residual ‖A·v − λ·v‖.
				res := 0.0
				for i := 0; i < n; i++ {
					s := -vals[c] * vecs[i*n+c]
					for j := 0; j < n; j++ {
						s += a[i*n+j] * vecs[j*n+c]
					}
					res = max(res, math.Abs(s))
				}
				if res > 1e-12*max(scale, 1) {
					t.Errorf("eigenpair %d: residual %g", c, res)
				}
				for c2 := 0; c2 <= c; c2++ {
					dot := 0.0
					for i := 0; i < n; i++ {
						dot += vecs[i*n+c] * vecs[i*n+c2]
					}
					if c2 == c {
						dot--
					}
					if math.Abs(dot) > 1e-12 {
						t.Errorf("vectors %d, %d: vᵀv − δ = %g", c, c2, dot)
					}
				}
			}
		})
	}
}

// BenchmarkSymEigen decomposes a 1024 × 1024 covariance, the size of ViM's and MDS's at ViT-L width.
func BenchmarkSymEigen(b *testing.B) {
	n := *benchDim
	rng := rand.New(rand.NewPCG(3, 4))
	x := make([]float64, 2*n*n)
	for i := range x {
		x[i] = rng.NormFloat64()
	}
	var g mat.SymDense
	g.SymOuterK(1, mat.NewDense(2*n, n, x).T())
	a := make([]float64, n*n)
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			a[i*n+j] = g.At(i, j)
		}
	}
	b.ResetTimer()
	defer reportCPU(b, cpuTime())
	for i := 0; i < b.N; i++ {
		if _, _, err := symEigen(a, n); err != nil {
			b.Fatal(err)
		}
	}
}
