package data

import (
	"fmt"
	"math"
	"sort"

	"plp/tensor"
)

// KNNResult is the outcome of the paper's k-NN classifier on a test split.
type KNNResult struct {
	K          int
	T          float64
	Top1, Top5 float64   // accuracy in percent
	Neighbors  []int64   // [Ntest, K] train indices, most similar first
	Votes      []float32 // [Ntest, classes] summed exp(similarity / T)
	Top5Pred   []int64   // [Ntest, min(5, classes)] classes by descending vote
}

// KNNClassify is the paper's knn_classifier (eval/classification.py, after DINO's): the rows of both sets
// are L2-normalised, each test sample's K most cosine-similar train samples vote for their class with
// weight exp(similarity / T), and the classes are ranked by vote. Top-1/top-5 accuracy are in percent;
// ties between votes go to the smaller class index (and between similarities to the smaller train index),
// as torch's CPU sort does. The paper uses K = 20, T = 0.02.
func KNNClassify(train, test *Embeddings, classes, k int, T float64) (*KNNResult, error) {
	switch {
	case train.D != test.D:
		return nil, fmt.Errorf("data: kNN: train width %d, test width %d", train.D, test.D)
	case k <= 0 || k > train.N:
		return nil, fmt.Errorf("data: kNN: k = %d outside [1, %d]", k, train.N)
	case !(T > 0):
		return nil, fmt.Errorf("data: kNN: temperature %v must be positive", T)
	case classes <= 0:
		return nil, fmt.Errorf("data: kNN: %d classes", classes)
	}
	for _, l := range train.Labels {
		if l < 0 || int(l) >= classes {
			return nil, fmt.Errorf("data: kNN: train label %d outside [0, %d)", l, classes)
		}
	}
	d := train.D
	trainN := normalizeRows(train.X, train.N, d)
	testN := normalizeRows(test.X, test.N, d)
	top := min(5, classes)
	r := &KNNResult{K: k, T: T, Neighbors: make([]int64, test.N*k), Votes: make([]float32, test.N*classes), Top5Pred: make([]int64, test.N*top)}
	be := tensor.CPU{}
	trainT := be.Wrap(trainN, train.N, d)
	// Chunks of test rows bound the similarity matrix's memory.
	rows := max(1, min(test.N, (64<<20)/(4*train.N)))
	var top1, top5 int
	h := make(neighborHeap, 0, k)
	order := make([]int, classes)
	for lo := 0; lo < test.N; lo += rows {
		hi := min(lo+rows, test.N)
		sim := tensor.Host(be.MatMul(be.Wrap(testN[lo*d:hi*d], hi-lo, d), trainT, false, true))
		for i := lo; i < hi; i++ {
			h = h.topK(sim[(i-lo)*train.N:(i-lo+1)*train.N], k)
			votes := r.Votes[i*classes : (i+1)*classes]
			for j, nb := range h {
				r.Neighbors[i*k+j] = int64(nb.idx)
				votes[train.Labels[nb.idx]] += float32(math.Exp(float64(nb.sim) / T))
			}
			for c := range order {
				order[c] = c
			}
			sort.SliceStable(order, func(a, b int) bool { return votes[order[a]] > votes[order[b]] })
			want := int64(-1)
			if i < len(test.Labels) {
				want = test.Labels[i]
			}
			for j := 0; j < top; j++ {
				r.Top5Pred[i*top+j] = int64(order[j])
				if int64(order[j]) == want {
					if j == 0 {
						top1++
					}
					top5++
				}
			}
		}
	}
	r.Top1 = 100 * float64(top1) / float64(test.N)
	r.Top5 = 100 * float64(top5) / float64(test.N)
	return r, nil
}

// normalizeRows returns x's rows divided by max(‖row‖, 1e-12), torch's F.normalize.
func normalizeRows(x []float32, n, d int) []float32 {
	out := make([]float32, n*d)
	for i := 0; i < n; i++ {
		row := x[i*d : (i+1)*d]
		var ss float64
		for _, v := range row {
			ss += float64(v) * float64(v)
		}
		inv := float32(1 / max(math.Sqrt(ss), 1e-12))
		for j, v := range row {
			out[i*d+j] = v * inv
		}
	}
	return out
}

type neighbor struct {
	sim float32
	idx int
}

// neighborHeap selects the k largest similarities.
type neighborHeap []neighbor

// worse orders neighbours from least to most similar; an equal similarity at a larger index is worse.
func worse(a, b neighbor) bool { return a.sim < b.sim || (a.sim == b.sim && a.idx > b.idx) }

// topK returns the k most similar entries of sim, most similar first, reusing h's storage.
func (h neighborHeap) topK(sim []float32, k int) neighborHeap {
	h = h[:0]
	for i, s := range sim {
		nb := neighbor{s, i}
		if len(h) < k {
			h = append(h, nb)
			h.up(len(h) - 1)
			continue
		}
		if worse(h[0], nb) {
			h[0] = nb
			h.down(0)
		}
	}
	sort.Slice(h, func(a, b int) bool { return worse(h[b], h[a]) })
	return h
}

func (h neighborHeap) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !worse(h[i], h[p]) {
			return
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
}

func (h neighborHeap) down(i int) {
	for {
		l, m := 2*i+1, i
		if l < len(h) && worse(h[l], h[m]) {
			m = l
		}
		if r := l + 1; r < len(h) && worse(h[r], h[m]) {
			m = r
		}
		if m == i {
			return
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
}
