package eval

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const classes = 10

// checkScores compares per-sample scores with the reference and returns the largest relative error.
func checkScores[S Score](t *testing.T, name string, got []S, want []S, rel, abs float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d scores, want %d", name, len(got), len(want))
	}
	bad := 0
	for i := range got {
		if !closeRel(float64(got[i]), float64(want[i]), rel, abs) {
			if bad < 3 {
				t.Errorf("%s[%d] = %.17g, want %.17g", name, i, float64(got[i]), float64(want[i]))
			}
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("%s: %d of %d scores off", name, bad, len(got))
	}
}

// checkRecomputedMetrics checks metrics of recomputed scores against the reference run. Scores that
// differ in the last bit may reorder near-ties: 0.05 (percent) is allowed on the AUROC, and one OOD
// sample (100/n_ood) on the FPR95, which jumps by a whole sample when a reordered pair sits at TPR 0.95.
func checkRecomputedMetrics[S Score](t *testing.T, key string, id, ood []S, set string) {
	t.Helper()
	want, ok := loadMetrics(t)[key][set]
	if !ok {
		t.Fatalf("no reference metrics for %s/%s", key, set)
	}
	m, err := Compute(id, ood)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(m.AUROC-want.AUROC) > 0.05 || math.Abs(m.FPR95-want.FPR95) > 100/float64(len(ood))+1e-9 {
		t.Errorf("%s/%s: AUROC %.6f FPR95 %.6f, want %.6f %.6f", key, set, m.AUROC, m.FPR95, want.AUROC, want.FPR95)
	}
}

// TestLogitScores recomputes MSP, energy, L1-norm and the max-normalised scores from the stored
// logits. Float32 scores must agree to 1e-6 relative.
func TestLogitScores(t *testing.T) {
	in := openTensors(t, "inputs.safetensors")
	zs := openTensors(t, "zeroshot.safetensors")
	ref := openTensors(t, "scores.safetensors")
	type method struct {
		key   string
		score func(logits []float32) ([]float32, error)
	}
	var methods []method
	for _, temp := range []float64{1, 0.5, 2} {
		methods = append(methods,
			method{fmt.Sprintf("msp[temp=%.1f]", temp), func(l []float32) ([]float32, error) { return MSP(l, classes, temp) }},
			method{fmt.Sprintf("free_energy[temp=%.1f]", temp), func(l []float32) ([]float32, error) { return Energy(l, classes, temp) }},
			method{fmt.Sprintf("l1_norm[temp=%.1f]", temp), func(l []float32) ([]float32, error) { return L1Norm(l, classes) }},
		)
	}
	for _, norm := range []Norm{NormSoftmax, NormL2, NormL1, NormNone} {
		methods = append(methods, method{fmt.Sprintf("max[norm=%s]", norm), func(l []float32) ([]float32, error) {
			return MaxNormalized(l, classes, norm)
		}})
	}
	for _, path := range []string{"logits", "zeroshot"} {
		logitsOf := func(set string) []float32 {
			if path == "zeroshot" {
				return zs.f32(map[string]string{"id": "zs_logits/test_features", "near": oodSets[0].zs, "far": oodSets[1].zs}[set])
			}
			return in.f32(map[string]string{"id": "test_logits", "near": oodSets[0].logits, "far": oodSets[1].logits}[set])
		}
		for _, m := range methods {
			key := path + "/" + m.key
			if !ref.has(key + "/id") {
				continue
			}
			t.Run(key, func(t *testing.T) {
				scores := map[string][]float32{}
				for _, set := range []string{"id", "near", "far"} {
					got, err := m.score(logitsOf(set))
					if err != nil {
						t.Fatal(err)
					}
					checkScores(t, set, got, ref.f32(key+"/"+set), 1e-6, 0)
					scores[set] = got
				}
				for _, set := range []string{"near", "far"} {
					checkRecomputedMetrics(t, key, scores["id"], scores[set], set)
				}
			})
		}
	}
}

func TestMaxLogitIsMaxNone(t *testing.T) {
	l := []float32{1, 3, -2, 0.5, -7, -1}
	got, err := MaxLogit(l, 3)
	if err != nil || len(got) != 2 || got[0] != 3 || got[1] != 0.5 {
		t.Errorf("MaxLogit = %v, %v; want [3 0.5]", got, err)
	}
}

func TestLogitScoreErrors(t *testing.T) {
	l := make([]float32, 20)
	tests := []struct {
		name string
		fn   func() ([]float32, error)
	}{
		{"zero temperature", func() ([]float32, error) { return MSP(l, 10, 0) }},
		{"negative temperature", func() ([]float32, error) { return Energy(l, 10, -1) }},
		{"NaN temperature", func() ([]float32, error) { return Energy(l, 10, math.NaN()) }},
		{"ragged rows", func() ([]float32, error) { return L1Norm(l, 3) }},
		{"zero classes", func() ([]float32, error) { return MaxLogit(l, 0) }},
		{"unknown norm", func() ([]float32, error) { return MaxNormalized(l, 10, "l3") }},
	}
	for _, tc := range tests {
		if _, err := tc.fn(); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
}

// TestZeroShot recomputes the zero-shot logits (normalise after the projection) and the pseudo-label
// probabilities (normalise before it, label embeddings scaled by 100).
func TestZeroShot(t *testing.T) {
	in := openTensors(t, "inputs.safetensors")
	zs := openTensors(t, "zeroshot.safetensors")
	dim, pdim := 48, 32
	proj, labels := in.f32("proj"), in.f32("label_embeds")
	ref := openTensors(t, "scores.safetensors")
	for _, s := range []struct{ x, want, set string }{
		{"train_x", "zs_logits/train_features", ""}, {"test_x", "zs_logits/test_features", "id"},
		{"near_x", oodSets[0].zs, "near"}, {"far_x", oodSets[1].zs, "far"},
	} {
		got, err := ZeroShotLogits(in.f32(s.x), dim, proj, pdim, labels, 1)
		if err != nil {
			t.Fatal(err)
		}
		// Cosine similarities lie in [-1, 1]; the reference's BLAS blocking changes the last bit.
		checkScores(t, s.want, got, zs.f32(s.want), 1e-6, 1e-6)
		if s.set == "" {
			continue
		}
		// End to end: the pseudo-MSP baseline from the embeddings.
		msp, err := ScoreLogits(MethodPseudoMSP, got, classes, 1)
		if err != nil {
			t.Fatal(err)
		}
		checkScores(t, "pseudo-MSP "+s.set, msp, ref.f32("zeroshot/msp[temp=1.0]/"+s.set), 1e-6, 0)
	}
	probs, pl, err := PseudoLabelProbs(in.f32("train_x"), dim, proj, pdim, zs.f32("pseudo/label_embeds_scaled"))
	if err != nil {
		t.Fatal(err)
	}
	checkScores(t, "pseudo/probs", probs, zs.f32("pseudo/probs"), 1e-5, 1e-6)
	wantLabels := zs.i64("pseudo/labels")
	for i := range wantLabels {
		if pl[i] != wantLabels[i] {
			t.Fatalf("pseudo label %d = %d, want %d", i, pl[i], wantLabels[i])
		}
	}
	if _, err := ZeroShotLogits(in.f32("test_x"), dim, proj[:10], pdim, labels, 1); err == nil {
		t.Error("short projection: no error")
	}
	if _, err := ZeroShotLogits(in.f32("test_x"), dim, nil, pdim, labels, 1); err == nil {
		t.Error("missing projection with dim mismatch: no error")
	}
	if _, err := ZeroShotLogits(in.f32("test_x"), dim, proj, pdim, labels[:33], 1); err == nil {
		t.Error("ragged label embeddings: no error")
	}
}

// mahaInputs returns the training data and scored sets of the features or logits path.
func mahaInputs(t *testing.T, path string) (train []float32, labels []int64, dim int, sets map[string][]float32) {
	in := openTensors(t, "inputs.safetensors")
	zs := openTensors(t, "zeroshot.safetensors")
	labels = in.i64("train_y")
	switch path {
	case "features":
		return in.f32("train_x"), labels, 48, map[string][]float32{"id": in.f32("test_x"), "near": in.f32("near_x"), "far": in.f32("far_x")}
	case "logits":
		return in.f32("train_logits"), labels, classes, map[string][]float32{"id": in.f32("test_logits"), "near": in.f32("near_logits"), "far": in.f32("far_logits")}
	}
	return zs.f32("zs_logits/train_features"), labels, classes, map[string][]float32{
		"id": zs.f32("zs_logits/test_features"), "near": zs.f32(oodSets[0].zs), "far": zs.f32(oodSets[1].zs)}
}

// TestMahalanobisStats compares the fitted statistics with the reference's (means, covariances to
// 1e-10 relative, inverses to 1e-8).
func TestMahalanobisStats(t *testing.T) {
	stats := openTensors(t, "maha_stats.safetensors")
	for _, path := range []string{"features", "logits"} {
		t.Run(path, func(t *testing.T) {
			train, labels, dim, _ := mahaInputs(t, path)
			m, err := FitMahalanobis(train, dim, labels, classes)
			if err != nil {
				t.Fatal(err)
			}
			if len(m.Classes) != classes {
				t.Fatalf("%d classes used, want %d", len(m.Classes), classes)
			}
			scale := 0.0 // matrices are compared relative to their largest entry
			for _, s := range []struct {
				name string
				got  []float64
				rel  float64
			}{
				{"class_means", m.ClassMeans, 1e-10}, {"mean_class_cov", m.ClassCov, 1e-10}, {"cov_inv", m.ClassPrec, 1e-8},
				{"train_cov", m.TrainCov, 1e-10}, {"avg_train_inv_cov", m.TrainPrec, 1e-8}, {"avg_train_mean", m.TrainMean, 1e-10},
			} {
				want := stats.f64(path + "/" + s.name)
				scale = 0
				for _, v := range want {
					scale = max(scale, math.Abs(v))
				}
				checkScores(t, s.name, s.got, want, s.rel, s.rel*scale)
			}
		})
	}
}

// TestMahalanobisScores checks the float64 Mahalanobis and relative Mahalanobis scores on features,
// probe logits and zero-shot logits to 1e-9, through Cholesky factors and through the full precision
// matrices (the fallback when a factorisation fails).
func TestMahalanobisScores(t *testing.T) {
	ref := openTensors(t, "scores.safetensors")
	for _, path := range []string{"features", "logits", "zeroshot"} {
		for _, cholesky := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/cholesky=%v", path, cholesky), func(t *testing.T) {
				train, labels, dim, sets := mahaInputs(t, path)
				m, err := FitMahalanobis(train, dim, labels, 0)
				if err != nil {
					t.Fatal(err)
				}
				if !m.prec.cholesky || !m.trainPrec.cholesky {
					t.Fatal("well-conditioned covariances must use Cholesky factors")
				}
				m.prepare(cholesky)
				got := map[string][2][]float64{}
				for _, set := range []string{"id", "near", "far"} {
					maha, rel, err := m.Scores(sets[set])
					if err != nil {
						t.Fatal(err)
					}
					checkScores(t, "Mahalanobis/"+set, maha, ref.f64(path+"/Mahalanobis/"+set), 1e-9, 0)
					checkScores(t, "Mahalanobis_relative/"+set, rel, ref.f64(path+"/Mahalanobis_relative/"+set), 1e-9, 1e-9)
					got[set] = [2][]float64{maha, rel}
				}
				for _, set := range []string{"near", "far"} {
					checkRecomputedMetrics(t, path+"/Mahalanobis", got["id"][0], got[set][0], set)
					checkRecomputedMetrics(t, path+"/Mahalanobis_relative", got["id"][1], got[set][1], set)
				}
			})
		}
	}
}

func TestMahalanobisSkipsSmallClasses(t *testing.T) {
	// Class 1 has one sample and class 3 none: only classes 0 and 2 get means.
	x := []float32{0, 0, 1, 0, 0, 1, 5, 5, 9, 9, 10, 9, 9, 10, 3, 1}
	labels := []int64{0, 0, 0, 1, 2, 2, 2, 0}
	m, err := FitMahalanobis(x, 2, labels, 4)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(m.Classes) != "[0 2]" {
		t.Fatalf("classes %v, want [0 2]", m.Classes)
	}
	// Without a class count any label is accepted; a huge one costs no memory.
	huge := slices.Clone(labels)
	huge[4], huge[5], huge[6] = 1<<40, 1<<40, 1<<40
	if m, err := FitMahalanobis(x, 2, huge, 0); err != nil || fmt.Sprint(m.Classes) != fmt.Sprint([]int{0, 1 << 40}) {
		t.Fatalf("huge labels: %v, %v", m, err)
	}
	if fmt.Sprint(m.Classes) != "[0 2]" {
		t.Fatalf("classes %v, want [0 2]", m.Classes)
	}
	// Class 0 holds (0,0), (1,0), (0,1), (3,1): mean (1, 0.5).
	if m.ClassMeans[0] != 1 || m.ClassMeans[1] != 0.5 {
		t.Errorf("class 0 mean %v, want [1 0.5]", m.ClassMeans[:2])
	}
}

func TestMahalanobisErrors(t *testing.T) {
	x := []float32{1, 2, 3, 4, 5, 6}
	tests := []struct {
		name   string
		x      []float32
		dim    int
		labels []int64
		nc     int
	}{
		{"label count", x, 2, []int64{0, 0}, 1},
		{"label range", x, 2, []int64{0, 0, 5}, 2},
		{"negative label", x, 2, []int64{0, -1, 0}, 2},
		{"ragged", x, 4, []int64{0}, 1},
		{"one sample", x[:2], 2, []int64{0}, 1},
		{"no class with two samples", x, 2, []int64{0, 1, 2}, 3},
		{"singular covariance", []float32{1, 1, 2, 2, 3, 3}, 2, []int64{0, 0, 0}, 1},
		{"NaN", []float32{1, 2, 3, float32(math.NaN()), 5, 6}, 2, []int64{0, 0, 0}, 1},
	}
	for _, tc := range tests {
		if _, err := FitMahalanobis(tc.x, tc.dim, tc.labels, tc.nc); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
	m, err := FitMahalanobis([]float32{0, 0, 1, 0, 0, 1, 2, 3}, 2, []int64{0, 0, 0, 0}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := m.Scores([]float32{1, 2, 3}); err == nil {
		t.Error("ragged test rows: no error")
	}
	if _, _, err := m.Scores([]float32{1, float32(math.Inf(1))}); err == nil {
		t.Error("infinite test value: no error")
	}
}

// TestKNNScores checks the kNN scores (k = 1, 10) on features to 1e-6 relative.
func TestKNNScores(t *testing.T) {
	in := openTensors(t, "inputs.safetensors")
	ref := openTensors(t, "scores.safetensors")
	knn, err := NewKNN(in.f32("train_x"), 48)
	if err != nil {
		t.Fatal(err)
	}
	ks := []int{1, 10}
	got := map[string][][]float32{}
	for set, x := range map[string]string{"id": "test_x", "near": "near_x", "far": "far_x"} {
		s, err := knn.Scores(in.f32(x), ks)
		if err != nil {
			t.Fatal(err)
		}
		for j, k := range ks {
			checkScores(t, fmt.Sprintf("k=%d/%s", k, set), s[j], ref.f32(fmt.Sprintf("features/knn[k=%d,metric=cos-sim]/%s", k, set)), 1e-6, 0)
		}
		got[set] = s
	}
	for j, k := range ks {
		for _, set := range []string{"near", "far"} {
			checkRecomputedMetrics(t, fmt.Sprintf("features/knn[k=%d,metric=cos-sim]", k), got["id"][j], got[set][j], set)
		}
	}
	for _, bad := range [][]int{nil, {0}, {3001}} {
		if _, err := knn.Scores(in.f32("test_x"), bad); err == nil {
			t.Errorf("ks %v: no error", bad)
		}
	}
	if _, err := knn.Scores([]float32{1, float32(math.NaN())}, ks); err == nil || !strings.Contains(err.Error(), "embeddings") && !strings.Contains(err.Error(), "non-finite") {
		t.Errorf("bad test rows: %v", err)
	}
	if _, err := NewKNN([]float32{1, 2, 3}, 2); err == nil {
		t.Error("ragged training rows: no error")
	}
}

// TestKNNTiles checks that tiling the similarity matrix (test rows × training rows) does not change
// the scores.
func TestKNNTiles(t *testing.T) {
	in := openTensors(t, "inputs.safetensors")
	knn, err := NewKNN(in.f32("train_x"), 48)
	if err != nil {
		t.Fatal(err)
	}
	x := in.f32("near_x")
	ks := []int{1, 7, 20}
	want, err := knn.Scores(x, ks)
	if err != nil {
		t.Fatal(err)
	}
	defer func(old [2]int) { knnTile = old }(knnTile)
	for _, tile := range [][2]int{{7, 100}, {1, 3000}, {800, 13}} {
		knnTile = tile
		got, err := knn.Scores(x, ks)
		if err != nil {
			t.Fatal(err)
		}
		for j := range ks {
			checkScores(t, fmt.Sprintf("tile %v k=%d", tile, ks[j]), got[j], want[j], 1e-7, 0)
		}
	}
}

// TestTopHeap compares the heap selection with a full sort; among equal values the lower index wins.
func TestTopHeap(t *testing.T) {
	s := []float32{3, -1, 7, 7, 2, 9, 0, 5, 5, 8}
	wantV := []float32{9, 8, 7, 7, 5, 5, 3, 2, 0, -1}
	wantI := []int{5, 9, 2, 3, 7, 8, 0, 4, 6, 1}
	for k := 1; k <= len(s); k++ {
		h := topHeap{v: make([]float32, 0, k), idx: make([]int, 0, k)}
		for i, v := range s {
			h.push(v, i)
		}
		h.sort()
		if !slices.Equal(h.v, wantV[:k]) || !slices.Equal(h.idx, wantI[:k]) {
			t.Errorf("k=%d: %v %v, want %v %v", k, h.v, h.idx, wantV[:k], wantI[:k])
		}
	}
}

// TestKNNClassifier checks the kNN classifier (k=20, T=0.02) against the reference: class votes to
// 3e-5 relative (exp(cos/0.02) magnifies the few-ulp differences of float32 similarities 50-fold), the
// top-5 ranking and the top-1/top-5 accuracies exactly.
func TestKNNClassifier(t *testing.T) {
	in := openTensors(t, "inputs.safetensors")
	ref := openTensors(t, "scores.safetensors")
	knn, err := NewKNN(in.f32("train_x"), 48)
	if err != nil {
		t.Fatal(err)
	}
	trainY, testY := in.i64("train_y"), in.i64("test_y")
	votes, err := knn.Votes(in.f32("test_x"), trainY, classes, 20, 0.02)
	if err != nil {
		t.Fatal(err)
	}
	checkScores(t, "votes", votes, ref.f32("knn_votes"), 3e-5, 1e-30)
	top5 := ref.i64("knn_top5_pred")
	for i := range testY {
		row := votes[i*classes : (i+1)*classes]
		order := []int64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}
		slices.SortStableFunc(order, func(a, b int64) int {
			switch {
			case row[a] > row[b]:
				return -1
			case row[a] < row[b]:
				return 1
			}
			return 0
		})
		if !slices.Equal(order[:5], top5[i*5:(i+1)*5]) {
			t.Fatalf("row %d: top-5 %v, want %v (votes %v)", i, order[:5], top5[i*5:(i+1)*5], row)
		}
	}
	var want struct {
		Metrics struct {
			KNN struct{ Top1, Top5 float64 } `json:"knn_classifier"`
		} `json:"metrics"`
	}
	b, err := os.ReadFile(filepath.Join("testdata", "metrics.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	top1, err1 := TopKAccuracy(votes, classes, testY, 1)
	top5acc, err5 := TopKAccuracy(votes, classes, testY, 5)
	if err1 != nil || err5 != nil || top1 != want.Metrics.KNN.Top1 || top5acc != want.Metrics.KNN.Top5 {
		t.Errorf("top-1/top-5 %v/%v (%v %v), want %v/%v", top1, top5acc, err1, err5, want.Metrics.KNN.Top1, want.Metrics.KNN.Top5)
	}

	for _, bad := range []func() error{
		func() error { _, err := knn.Votes(in.f32("test_x"), trainY[:10], classes, 20, 0.02); return err },
		func() error { _, err := knn.Votes(in.f32("test_x"), trainY, 5, 20, 0.02); return err },
		func() error { _, err := knn.Votes(in.f32("test_x"), trainY, classes, 0, 0.02); return err },
		func() error { _, err := knn.Votes(in.f32("test_x"), trainY, classes, 20, 0); return err },
		func() error { _, err := TopKAccuracy(votes, classes, testY[:3], 1); return err },
		func() error { _, err := TopKAccuracy(votes, classes, testY, 0); return err },
	} {
		if bad() == nil {
			t.Error("bad classifier input: no error")
		}
	}
}

// TestTopKAccuracyTies checks the tie rule: equal scores rank by class index.
func TestTopKAccuracyTies(t *testing.T) {
	scores := []float32{0, 1, 1, 0, 2, 0, 0, 0} // two rows of four classes
	for _, tc := range []struct {
		labels []int64
		k      int
		want   float64
	}{
		{[]int64{1, 0}, 1, 100}, {[]int64{2, 0}, 1, 50}, {[]int64{2, 1}, 2, 100}, {[]int64{3, 3}, 3, 0}, {[]int64{3, 3}, 4, 100},
		{[]int64{0, 7}, 4, 50}, // a label outside the classes never matches
	} {
		got, err := TopKAccuracy(scores, 4, tc.labels, tc.k)
		if err != nil || got != tc.want {
			t.Errorf("labels %v top-%d: %v (%v), want %v", tc.labels, tc.k, got, err, tc.want)
		}
	}
}

func TestScoreLogits(t *testing.T) {
	in := openTensors(t, "inputs.safetensors")
	logits := in.f32("test_logits")
	tests := []struct {
		method string
		want   func() ([]float32, error)
	}{
		{MethodMSP, func() ([]float32, error) { return MSP(logits, classes, 2) }},
		{MethodPseudoMSP, func() ([]float32, error) { return MSP(logits, classes, 2) }},
		{MethodEnergy, func() ([]float32, error) { return Energy(logits, classes, 2) }},
		{MethodL1Norm, func() ([]float32, error) { return L1Norm(logits, classes) }},
		{MethodMaxLogit, func() ([]float32, error) { return MaxLogit(logits, classes) }},
	}
	for _, tc := range tests {
		got, err := ScoreLogits(tc.method, logits, classes, 2)
		want, _ := tc.want()
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("%s: %v", tc.method, err)
		}
	}
	for _, bad := range []string{MethodKNN, MethodMahalanobis, "entropy"} {
		if _, err := ScoreLogits(bad, logits, classes, 1); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}
