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
	// Tiles of up to 512 test rows × 16384 training rows (32 MiB of similarities) keep memory bounded
	// for any training set and make each GEMM large enough to amortise its packing; every test row
	// keeps a running top-k heap across the training tiles, updated in parallel.
	rowTile, colTile := knnTile[0], knnTile[1]
	sim := make([]float32, min(rowTile, rowsX)*min(colTile, m.n))
	heaps := make([]topHeap, min(rowTile, rowsX))
	for i := range heaps {
		heaps[i].v = make([]float32, 0, kmax)
	}
	workers := runtime.GOMAXPROCS(0)
	for lo := 0; lo < rowsX; lo += rowTile {
		b := min(rowTile, rowsX-lo)
		for i := range heaps[:b] {
			heaps[i].v = heaps[i].v[:0]
		}
		for c0 := 0; c0 < m.n; c0 += colTile {
			nc := min(colTile, m.n-c0)
			cpu.Sgemm(false, true, b, nc, m.dim, 1, q[lo*m.dim:], m.dim, m.train[c0*m.dim:], m.dim, 0, sim, nc)
			parallel(workers, b, func(i int) {
				h := &heaps[i]
				for _, v := range sim[i*nc : (i+1)*nc] {
					h.push(v)
				}
			})
		}
		parallel(workers, b, func(i int) {
			top := heaps[i].v
			slices.Sort(top)
			slices.Reverse(top)
			for j, k := range ks {
				s := 0.0
				for _, v := range top[:k] {
					s += float64(float32(math.Exp(float64(v))))
				}
				out[j][lo+i] = float32(s / float64(k))
			}
		})
	}
	return out, nil
}

// knnTile is the test-rows × training-rows tile of KNN.Scores (a variable so tests can shrink it).
var knnTile = [2]int{512, 16384}

// parallel runs f(0..n-1) on up to workers goroutines, indices interleaved.
func parallel(workers, n int, f func(i int)) {
	var wg sync.WaitGroup
	for w := 0; w < min(workers, n); w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < n; i += workers {
				f(i)
			}
		}(w)
	}
	wg.Wait()
}

// topHeap keeps the cap(v) largest values pushed so far, as a min-heap.
type topHeap struct{ v []float32 }

func (h *topHeap) push(x float32) {
	if len(h.v) < cap(h.v) {
		h.v = append(h.v, x)
		for i := len(h.v) - 1; i > 0; { // sift up
			p := (i - 1) / 2
			if h.v[p] <= h.v[i] {
				break
			}
			h.v[p], h.v[i] = h.v[i], h.v[p]
			i = p
		}
		return
	}
	if x > h.v[0] {
		h.v[0] = x
		siftDown(h.v, 0)
	}
}

// topK fills h with the len(h) largest values of s, in decreasing order.
func topK(h, s []float32) {
	t := topHeap{v: h[:0]}
	for _, v := range s {
		t.push(v)
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
