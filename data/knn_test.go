package data

import (
	"math"
	"slices"
	"strconv"
	"testing"

	"plp/weights"
)

// testdata/knn_classifier.safetensors holds synthetic features (3000 train, 1000 test, 48 dims, 10
// classes of unequal size) and the paper's knn_classifier internals and accuracy for them (k=20, T=0.02),
// as computed by torch.
func TestKNNClassifyMatchesReference(t *testing.T) {
	st, err := weights.OpenSafetensors("testdata/knn_classifier.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	f32 := func(name string) ([]float32, []int) {
		tt, err := st.Tensor(name)
		if err != nil {
			t.Fatal(err)
		}
		v, err := tt.Float32()
		if err != nil {
			t.Fatal(err)
		}
		return slices.Clone(v), tt.Shape
	}
	i64 := func(name string) []int64 {
		tt, err := st.Tensor(name)
		if err != nil {
			t.Fatal(err)
		}
		v, err := tt.Int64()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	trX, trS := f32("train_x")
	teX, teS := f32("test_x")
	train := &Embeddings{N: trS[0], D: trS[1], X: trX, Labels: i64("train_y")}
	test := &Embeddings{N: teS[0], D: teS[1], X: teX, Labels: i64("test_y")}
	r, err := KNNClassify(train, test, 10, 20, 0.02)
	if err != nil {
		t.Fatal(err)
	}
	meta := st.Metadata()
	for _, c := range []struct {
		name string
		got  float64
	}{{"top1", r.Top1}, {"top5", r.Top5}} {
		want, err := strconv.ParseFloat(meta[c.name], 64)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(c.got-want) > 1e-9 {
			t.Errorf("%s = %v, want %v", c.name, c.got, want)
		}
	}
	if want := i64("knn_neighbors"); !slices.Equal(r.Neighbors, want) {
		t.Error("neighbour indices differ from the reference")
	}
	if want := i64("knn_top5_pred"); !slices.Equal(r.Top5Pred, want) {
		t.Error("top-5 classes differ from the reference")
	}
	// exp(sim/T) multiplies a similarity's float32 rounding (a few 1e-8, from another summation order
	// than torch's BLAS) by 1/T = 50 in relative terms.
	votes, _ := f32("knn_votes")
	for i, w := range votes {
		if d := math.Abs(float64(r.Votes[i] - w)); d > 2e-5*math.Abs(float64(w)) {
			t.Fatalf("vote %d = %v, want %v", i, r.Votes[i], w)
		}
	}
}

func TestKNNClassifyErrors(t *testing.T) {
	train := &Embeddings{N: 2, D: 2, X: []float32{1, 0, 0, 1}, Labels: []int64{0, 1}}
	test := &Embeddings{N: 1, D: 2, X: []float32{1, 0.1}, Labels: []int64{0}}
	cases := []struct {
		name    string
		train   *Embeddings
		classes int
		k       int
		T       float64
	}{
		{"k too large", train, 2, 3, 0.02},
		{"k zero", train, 2, 0, 0.02},
		{"zero temperature", train, 2, 1, 0},
		{"label out of range", &Embeddings{N: 2, D: 2, X: train.X, Labels: []int64{0, 5}}, 2, 1, 0.02},
		{"width mismatch", &Embeddings{N: 1, D: 3, X: []float32{1, 2, 3}, Labels: []int64{0}}, 2, 1, 0.02},
	}
	for _, c := range cases {
		if _, err := KNNClassify(c.train, test, c.classes, c.k, c.T); err == nil {
			t.Errorf("%s: no error", c.name)
		}
	}
	r, err := KNNClassify(train, test, 2, 1, 0.02)
	if err != nil {
		t.Fatal(err)
	}
	if r.Top1 != 100 || r.Neighbors[0] != 0 {
		t.Errorf("nearest of (1, 0.1) among (1,0), (0,1): %+v", r)
	}
}
