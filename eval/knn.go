package eval

import (
	"cmp"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync"

	"plp/kernels/cpu"
)

// KNN finds the training samples most similar to a query by cosine similarity. Scores is the paper's
// OOD_classifier_knn with metric cos-sim; Votes and TopKAccuracy are its knn_classifier.
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
// score per row of x ([m, dim]): the mean of exp(cos(x, t)) over the k most similar training samples t
// (note the exp, as in the paper), in float32. All ks share one pass over the similarities.
func (m *KNN) Scores(x []float32, ks []int) ([][]float32, error) {
	if len(ks) == 0 {
		return nil, fmt.Errorf("eval: no k given for kNN")
	}
	kmax := 0
	for _, k := range ks {
		if err := m.checkK(k); err != nil {
			return nil, err
		}
		kmax = max(kmax, k)
	}
	n, err := rows(len(x), m.dim, "embeddings")
	if err != nil {
		return nil, err
	}
	out := make([][]float32, len(ks))
	for j := range out {
		out[j] = make([]float32, n)
	}
	err = m.scan(x, kmax, func(row int, h *topHeap) {
		for j, k := range ks {
			s := 0.0
			for _, v := range h.v[:k] {
				s += float64(float32(math.Exp(float64(v))))
			}
			out[j][row] = float32(s / float64(k))
		}
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Votes returns the class votes of the paper's kNN classifier for each row of x ([m, dim]) as a
// [m, classes] slice: the sum, over the k most similar training samples, of exp(cos/temperature) added
// to the neighbour's class (labels in [0, classes), one per training sample).
func (m *KNN) Votes(x []float32, trainLabels []int64, classes, k int, temperature float64) ([]float32, error) {
	if len(trainLabels) != m.n {
		return nil, fmt.Errorf("eval: %d training labels for %d training samples", len(trainLabels), m.n)
	}
	for i, l := range trainLabels {
		if l < 0 || l >= int64(classes) {
			return nil, fmt.Errorf("eval: training label %d of sample %d is outside [0, %d)", l, i, classes)
		}
	}
	if err := m.checkK(k); err != nil {
		return nil, err
	}
	if !(temperature > 0) || math.IsInf(temperature, 0) {
		return nil, fmt.Errorf("eval: kNN temperature %v must be positive and finite", temperature)
	}
	n, err := rows(len(x), m.dim, "embeddings")
	if err != nil {
		return nil, err
	}
	out := make([]float32, n*classes)
	t := float32(temperature)
	err = m.scan(x, k, func(row int, h *topHeap) {
		acc := make([]float64, classes)
		for i, v := range h.v {
			acc[trainLabels[h.idx[i]]] += float64(float32(math.Exp(float64(v / t))))
		}
		for c, s := range acc {
			out[row*classes+c] = float32(s)
		}
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// TopKAccuracy is the percentage of rows of scores ([n, classes]) whose k best classes contain the
// label; classes are ranked by decreasing score, ties by ascending class index (torch's CPU sort on
// the paper's votes), so classes without votes fill the ranking in index order.
func TopKAccuracy(scores []float32, classes int, labels []int64, k int) (float64, error) {
	n, err := rows(len(scores), classes, "scores")
	if err != nil {
		return 0, err
	}
	if n != len(labels) || n == 0 {
		return 0, fmt.Errorf("eval: %d score rows and %d labels (need the same, non-zero number)", n, len(labels))
	}
	if k < 1 {
		return 0, fmt.Errorf("eval: top-%d accuracy", k)
	}
	correct := 0
	for i, y := range labels {
		row := scores[i*classes : (i+1)*classes]
		if y < 0 || y >= int64(classes) {
			continue // no class can match it
		}
		// The label is in the top k iff fewer than k classes rank before it.
		before := 0
		for c, v := range row {
			if v > row[y] || (v == row[y] && int64(c) < y) {
				before++
			}
		}
		if before < k {
			correct++
		}
	}
	return float64(correct) * 100 / float64(n), nil
}

func (m *KNN) checkK(k int) error {
	if k < 1 || k > m.n {
		return fmt.Errorf("eval: kNN k=%d outside [1, %d]", k, m.n)
	}
	return nil
}

// knnTile is the test-rows × training-rows tile of scan (a variable so tests can shrink it).
var knnTile = [2]int{512, 16384}

// scan normalises the rows of x and calls finish(row, h) for every row, in parallel, with h holding the
// k largest cosine similarities to the training rows in decreasing order (ties: lower training index
// first) and their training indices.
func (m *KNN) scan(x []float32, k int, finish func(row int, h *topHeap)) error {
	n, err := rows(len(x), m.dim, "embeddings")
	if err != nil {
		return err
	}
	if err := finite(x, m.dim, "embedding"); err != nil {
		return err
	}
	q := append([]float32(nil), x...)
	normalizeRows(q, m.dim)

	// Tiles of up to 512 test rows × 16384 training rows (32 MiB of similarities) keep memory bounded
	// for any training set and make each GEMM large enough to amortise its packing; every test row
	// keeps a running top-k heap across the training tiles, updated in parallel.
	rowTile, colTile := knnTile[0], knnTile[1]
	sim := make([]float32, min(rowTile, n)*min(colTile, m.n))
	heaps := make([]topHeap, min(rowTile, n))
	for i := range heaps {
		heaps[i] = topHeap{v: make([]float32, 0, k), idx: make([]int, 0, k)}
	}
	workers := runtime.GOMAXPROCS(0)
	for lo := 0; lo < n; lo += rowTile {
		b := min(rowTile, n-lo)
		for i := range heaps[:b] {
			heaps[i].v, heaps[i].idx = heaps[i].v[:0], heaps[i].idx[:0]
		}
		for c0 := 0; c0 < m.n; c0 += colTile {
			nc := min(colTile, m.n-c0)
			cpu.Sgemm(false, true, b, nc, m.dim, 1, q[lo*m.dim:], m.dim, m.train[c0*m.dim:], m.dim, 0, sim, nc)
			parallel(workers, b, func(i int) {
				h := &heaps[i]
				for j, v := range sim[i*nc : (i+1)*nc] {
					h.push(v, c0+j)
				}
			})
		}
		parallel(workers, b, func(i int) {
			heaps[i].sort()
			finish(lo+i, &heaps[i])
		})
	}
	return nil
}

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

// topHeap keeps the cap(v) largest values pushed so far and their indices, as a min-heap. Among equal
// values the one pushed first (the lower index) is kept.
type topHeap struct {
	v   []float32
	idx []int
}

func (h *topHeap) push(x float32, i int) {
	if len(h.v) < cap(h.v) {
		h.v, h.idx = append(h.v, x), append(h.idx, i)
		for c := len(h.v) - 1; c > 0; { // sift up
			p := (c - 1) / 2
			if !h.less(c, p) {
				break
			}
			h.swap(c, p)
			c = p
		}
		return
	}
	if x > h.v[0] {
		h.v[0], h.idx[0] = x, i
		h.siftDown(0)
	}
}

// less orders the heap: smaller value first, and among equal values the later index, so it is the
// one evicted.
func (h *topHeap) less(a, b int) bool {
	if h.v[a] != h.v[b] {
		return h.v[a] < h.v[b]
	}
	return h.idx[a] > h.idx[b]
}

func (h *topHeap) swap(a, b int) {
	h.v[a], h.v[b] = h.v[b], h.v[a]
	h.idx[a], h.idx[b] = h.idx[b], h.idx[a]
}

func (h *topHeap) siftDown(i int) {
	n := len(h.v)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		c := l
		if r := l + 1; r < n && h.less(r, l) {
			c = r
		}
		if !h.less(c, i) {
			return
		}
		h.swap(i, c)
		i = c
	}
}

// sort orders the kept values decreasingly, equal values by increasing index.
func (h *topHeap) sort() {
	order := make([]int, len(h.v))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		if c := cmp.Compare(h.v[b], h.v[a]); c != 0 {
			return c
		}
		return cmp.Compare(h.idx[a], h.idx[b])
	})
	v, idx := slices.Clone(h.v), slices.Clone(h.idx)
	for i, o := range order {
		h.v[i], h.idx[i] = v[o], idx[o]
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
