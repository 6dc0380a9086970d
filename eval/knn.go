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

// KNNMetric names a similarity of the paper's OOD_classifier_knn (eval/ood_scores.py).
type KNNMetric string

// The kNN metrics. Distances are negated so that, as for the similarities, larger means nearer.
const (
	KNNCosSim     KNNMetric = "cos-sim"      // exp(cos(x, t)): note the exp, as in the paper
	KNNTempCosSim KNNMetric = "temp-cos-sim" // exp(cos(x, t) / temperature)
	KNNL1         KNNMetric = "l1"           // −‖x − t‖₁
	KNNL2         KNNMetric = "l2"           // −‖x − t‖₂
	KNNNormL1     KNNMetric = "norm-l1"      // −‖x/‖x‖₁ − t/‖t‖₁‖₁
	KNNNormL2     KNNMetric = "norm-l2"      // −‖x/‖x‖₂ − t/‖t‖₂‖₂
)

// DefaultKNNTemperature is the temperature of temp-cos-sim in the paper's evaluation arguments.
const DefaultKNNTemperature = 0.02

// KNNMetrics lists every metric in the paper's order.
func KNNMetrics() []KNNMetric {
	return []KNNMetric{KNNCosSim, KNNTempCosSim, KNNL1, KNNL2, KNNNormL1, KNNNormL2}
}

// ParseKNNMetric checks a metric name.
func ParseKNNMetric(s string) (KNNMetric, error) {
	for _, m := range KNNMetrics() {
		if string(m) == s {
			return m, nil
		}
	}
	return "", fmt.Errorf("eval: unknown kNN metric %q (want cos-sim, temp-cos-sim, l1, l2, norm-l1 or norm-l2)", s)
}

// cosine reports whether the metric ranks neighbours by cosine similarity (norm-l2 is monotone in it).
func (m KNNMetric) cosine() bool { return m == KNNCosSim || m == KNNTempCosSim || m == KNNNormL2 }

// KNN finds the training samples nearest to a query under one of the paper's metrics. Scores is the
// paper's OOD_classifier_knn; Votes and TopKAccuracy are its knn_classifier (cosine metrics only).
type KNN struct {
	dim, n      int
	metric      KNNMetric
	temperature float32
	train       []float32 // rows as the metric compares them: L2- or L1-normalised, or as given
	sqNorms     []float32 // ‖t‖² of the rows (l2 only), for the GEMM form of the distance
}

// NewKNN keeps an L2-normalised copy of the training embeddings ([n, dim]) for the cos-sim metric.
func NewKNN(train []float32, dim int) (*KNN, error) {
	return NewKNNMetric(train, dim, KNNCosSim, DefaultKNNTemperature)
}

// NewKNNMetric keeps a copy of the training embeddings ([n, dim]), normalised as the metric needs.
// The temperature (positive, finite) is used by temp-cos-sim only.
func NewKNNMetric(train []float32, dim int, metric KNNMetric, temperature float64) (*KNN, error) {
	if _, err := ParseKNNMetric(string(metric)); err != nil {
		return nil, err
	}
	if !(temperature > 0) || math.IsInf(temperature, 0) {
		return nil, fmt.Errorf("eval: kNN temperature %v must be positive and finite", temperature)
	}
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
	m := &KNN{dim: dim, n: n, metric: metric, temperature: float32(temperature), train: slices.Clone(train)}
	m.prepareRows(m.train)
	if metric == KNNL2 {
		m.sqNorms = make([]float32, n)
		for i := range m.sqNorms {
			m.sqNorms[i] = float32(dot32(m.train[i*dim:(i+1)*dim], m.train[i*dim:(i+1)*dim]))
		}
	}
	return m, nil
}

// Metric is the metric the index was built for.
func (m *KNN) Metric() KNNMetric { return m.metric }

// prepareRows normalises rows in place as the metric compares them (torch's F.normalize, eps 1e-12).
func (m *KNN) prepareRows(x []float32) {
	switch {
	case m.metric.cosine():
		normalizeRows(x, m.dim)
	case m.metric == KNNNormL1:
		normalizeRowsL1(x, m.dim)
	}
}

// normalizeRowsL1 divides each row by max(‖row‖₁, 1e-12).
func normalizeRowsL1(x []float32, dim int) {
	for i := 0; i+dim <= len(x); i += dim {
		row := x[i : i+dim]
		s := 0.0
		for _, v := range row {
			s += math.Abs(float64(v))
		}
		norm := max(float32(s), 1e-12)
		for j := range row {
			row[j] /= norm
		}
	}
}

// Scores returns one score slice per entry of ks (1 <= k <= number of training samples), each with one
// score per row of x ([m, dim]): the mean, over the k nearest training samples, of the metric's
// similarity, in float32. All ks share one pass over the training set.
//
// Neighbours are found with float32 similarities (a GEMM for the cosine and l2 metrics); the k
// similarities that are averaged are then recomputed in float64 from the rows, so that the scores do
// not carry the GEMM's cancellation error (which temp-cos-sim multiplies by 1/temperature).
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
	err = m.scan(x, kmax, func(row int, q []float32, h *topHeap) {
		sims := make([]float64, len(h.v))
		for i, t := range h.idx {
			sims[i] = float64(m.similarity(q, m.train[t*m.dim:(t+1)*m.dim]))
		}
		for j, k := range ks {
			s := 0.0
			for _, v := range sims[:k] {
				s += v
			}
			out[j][row] = float32(s / float64(k))
		}
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// similarity is the metric between a prepared query row q and a prepared training row t, computed in
// float64 and rounded to float32 like the paper's float32 similarity matrix.
func (m *KNN) similarity(q, t []float32) float32 {
	switch m.metric {
	case KNNCosSim:
		return float32(math.Exp(dot32(q, t)))
	case KNNTempCosSim:
		return float32(math.Exp(dot32(q, t) / float64(m.temperature)))
	case KNNL2, KNNNormL2:
		s := 0.0
		for i, v := range q {
			d := float64(v) - float64(t[i])
			s += d * d
		}
		return -float32(math.Sqrt(s))
	default: // l1, norm-l1
		s := 0.0
		for i, v := range q {
			s += math.Abs(float64(v) - float64(t[i]))
		}
		return -float32(s)
	}
}

func dot32(a, b []float32) float64 {
	s := 0.0
	for i, v := range a {
		s += float64(v) * float64(b[i])
	}
	return s
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
	if !m.metric.cosine() {
		return nil, fmt.Errorf("eval: kNN votes need a cosine metric, not %s", m.metric)
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
	err = m.scan(x, k, func(row int, _ []float32, h *topHeap) {
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

// scan prepares the rows of x as the metric needs and calls finish(row, q, h) for every row, in
// parallel, with q the prepared row and h holding the k nearest training rows in decreasing order of a
// float32 ranking key (ties: lower training index first): the cosine similarity for the cosine
// metrics, 2·qᵀt − ‖t‖² for l2 (−‖q − t‖² up to the row's constant ‖q‖²), the negated L1 distance
// otherwise.
func (m *KNN) scan(x []float32, k int, finish func(row int, q []float32, h *topHeap)) error {
	n, err := rows(len(x), m.dim, "embeddings")
	if err != nil {
		return err
	}
	if err := finite(x, m.dim, "embedding"); err != nil {
		return err
	}
	q := slices.Clone(x)
	m.prepareRows(q)

	// Tiles of up to 512 test rows × 16384 training rows (32 MiB of keys) keep memory bounded for any
	// training set and make each GEMM large enough to amortise its packing; every test row keeps a
	// running top-k heap across the training tiles, updated in parallel.
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
			m.keys(q[lo*m.dim:(lo+b)*m.dim], b, c0, nc, sim, workers)
			parallel(workers, b, func(i int) {
				h := &heaps[i]
				for j, v := range sim[i*nc : (i+1)*nc] {
					h.push(v, c0+j)
				}
			})
		}
		parallel(workers, b, func(i int) {
			heaps[i].sort()
			r := lo + i
			finish(r, q[r*m.dim:(r+1)*m.dim], &heaps[i])
		})
	}
	return nil
}

// keys fills sim ([b, nc]) with the ranking keys of the b prepared query rows q against training rows
// [c0, c0+nc).
func (m *KNN) keys(q []float32, b, c0, nc int, sim []float32, workers int) {
	d := m.dim
	t := m.train[c0*d : (c0+nc)*d]
	if m.metric.cosine() || m.metric == KNNL2 {
		cpu.Sgemm(false, true, b, nc, d, 1, q, d, t, d, 0, sim, nc)
		if m.metric == KNNL2 {
			norms := m.sqNorms[c0 : c0+nc]
			parallel(workers, b, func(i int) {
				row := sim[i*nc : (i+1)*nc]
				for j, v := range row {
					row[j] = 2*v - norms[j]
				}
			})
		}
		return
	}
	parallel(workers, b, func(i int) {
		qi := q[i*d : (i+1)*d]
		row := sim[i*nc : (i+1)*nc]
		for j := range row {
			row[j] = -l1Distance(qi, t[j*d:(j+1)*d])
		}
	})
}

// l1Distance is ‖a − b‖₁ in float32 with eight partial sums (a ranking key; scores recompute it).
func l1Distance(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3, s4, s5, s6, s7 float32
	i := 0
	for ; i+8 <= len(a); i += 8 {
		a8, b8 := a[i:i+8:i+8], b[i:i+8:i+8]
		s0 += abs32(a8[0] - b8[0])
		s1 += abs32(a8[1] - b8[1])
		s2 += abs32(a8[2] - b8[2])
		s3 += abs32(a8[3] - b8[3])
		s4 += abs32(a8[4] - b8[4])
		s5 += abs32(a8[5] - b8[5])
		s6 += abs32(a8[6] - b8[6])
		s7 += abs32(a8[7] - b8[7])
	}
	for ; i < len(a); i++ {
		s0 += abs32(a[i] - b[i])
	}
	return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))
}

func abs32(x float32) float32 { return math.Float32frombits(math.Float32bits(x) &^ (1 << 31)) }

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
