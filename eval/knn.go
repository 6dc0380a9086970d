package eval

import (
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync"

	"plp/kernels/cpu"
)

// KNN scores samples by their cosine similarity to a training set: the paper's OOD_classifier_knn with
// metric cos-sim. The score for k is the mean of exp(cos(x, t)) over the k training samples t most
// similar to x (note the exp, as in the paper), in float32.
type KNN struct {
	dim, n int
	train  []float32 // L2-normalised rows
}

// NewKNN normalises and keeps a copy of the training embeddings ([n, dim]).
func NewKNN(train []float32, dim int) (*KNN, error) {
	n, err := rows(len(train), dim, "training embeddings")
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, fmt.Errorf("eval: kNN needs training embeddings")
	}
	if err := finite(train, dim, "training embedding"); err != nil {
		return nil, err
	}
	t := append([]float32(nil), train...)
	normalizeRows(t, dim)
	return &KNN{dim: dim, n: n, train: t}, nil
}

// Scores returns one score slice per entry of ks (1 <= k <= number of training samples), each with one
// score per row of x ([m, dim]). All ks share one pass over the similarities.
func (m *KNN) Scores(x []float32, ks []int) ([][]float32, error) {
	rowsX, err := rows(len(x), m.dim, "embeddings")
	if err != nil {
		return nil, err
	}
	if len(ks) == 0 {
		return nil, fmt.Errorf("eval: no k given for kNN")
	}
	kmax := 0
	for _, k := range ks {
		if k < 1 || k > m.n {
			return nil, fmt.Errorf("eval: kNN k=%d outside [1, %d]", k, m.n)
		}
		kmax = max(kmax, k)
	}
	if err := finite(x, m.dim, "embedding"); err != nil {
		return nil, err
	}
	q := append([]float32(nil), x...)
	normalizeRows(q, m.dim)

	out := make([][]float32, len(ks))
	for j := range out {
		out[j] = make([]float32, rowsX)
	}
	// Similarities are produced a block of test rows at a time (about 64 MiB), each block one large
	// GEMM, then the top-k selection of the block's rows runs in parallel.
	block := max(1, min(512, (16<<20)/m.n))
	sim := make([]float32, min(block, rowsX)*m.n)
	workers := runtime.GOMAXPROCS(0)
	heaps := make([][]float32, workers)
	for w := range heaps {
		heaps[w] = make([]float32, kmax)
	}
	for lo := 0; lo < rowsX; lo += block {
		b := min(block, rowsX-lo)
		cpu.Sgemm(false, true, b, m.n, m.dim, 1, q[lo*m.dim:], m.dim, m.train, m.dim, 0, sim, m.n)
		var wg sync.WaitGroup
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				h := heaps[w]
				for i := w; i < b; i += workers {
					topK(h, sim[i*m.n:(i+1)*m.n])
					for j, k := range ks {
						s := 0.0
						for _, v := range h[:k] {
							s += float64(float32(math.Exp(float64(v))))
						}
						out[j][lo+i] = float32(s / float64(k))
					}
				}
			}(w)
		}
		wg.Wait()
	}
	return out, nil
}

// topK fills h with the len(h) largest values of s, in decreasing order.
func topK(h, s []float32) {
	k := len(h)
	copy(h, s[:k])
	for i := k/2 - 1; i >= 0; i-- {
		siftDown(h, i)
	}
	for _, v := range s[k:] {
		if v > h[0] {
			h[0] = v
			siftDown(h, 0)
		}
	}
	slices.Sort(h)
	slices.Reverse(h)
}

// siftDown restores the min-heap property below i.
func siftDown(h []float32, i int) {
	n := len(h)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		c := l
		if r := l + 1; r < n && h[r] < h[l] {
			c = r
		}
		if h[i] <= h[c] {
			return
		}
		h[i], h[c] = h[c], h[i]
		i = c
	}
}

// finite reports the first non-finite value of a row-major matrix.
func finite(x []float32, dim int, what string) error {
	for i, v := range x {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("eval: %s %d has a non-finite value (%v) at column %d", what, i/dim, v, i%dim)
		}
	}
	return nil
}
