package eval

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// TestPercentile checks numpy.percentile's linear interpolation on float32 data (values from numpy
// 1.24), including the float32 difference of neighbours.
func TestPercentile(t *testing.T) {
	for _, tt := range []struct {
		a    []float32
		p    float64
		want float64
	}{
		{[]float32{1, 2, 3, 4}, 90, 3.7},
		{[]float32{5, 1, 4, 2, 3}, 50, 3},
		{[]float32{0, 0, 0, 1, 2}, 40, 0},
		{[]float32{0, 0, 0, 1, 2}, 90, 1.6},
		{[]float32{3.5}, 30, 3.5},
		{[]float32{1, 2}, 0, 1},
		{[]float32{1, 2}, 100, 2},
		{[]float32{0.1, 0.2, 0.7, 0.3}, 37.5, 0.21250000409781933},
		{[]float32{-1e-3, 2e5, 7, 7, 7, -3}, 85, 50005.25},
	} {
		if got := percentile(slices.Clone(tt.a), tt.p); math.Abs(got-tt.want) > 1e-12*math.Abs(tt.want) {
			t.Errorf("percentile(%v, %v) = %.17g, want %.17g", tt.a, tt.p, got, tt.want)
		}
		if got := percentileInPlace(tt.a, tt.p); math.Abs(got-tt.want) > 1e-12*math.Abs(tt.want) {
			t.Errorf("percentileInPlace(%v, %v) = %.17g, want %.17g", tt.a, tt.p, got, tt.want)
		}
	}
}

// TestPercentileInPlace compares the radix selection with the sorting one on signed data with ties,
// zeros of both signs and a large array (several goroutines).
func TestPercentileInPlace(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, n := range []int{1, 2, 7, 1000, 300000} {
		a := make([]float32, n)
		for i := range a {
			switch rng.IntN(4) {
			case 0:
				a[i] = 0
			case 1:
				a[i] = float32(math.Copysign(0, -1))
			default:
				a[i] = float32(rng.NormFloat64() * math.Pow(10, float64(rng.IntN(9)-4)))
			}
		}
		before := slices.Clone(a)
		for _, p := range []float64{0, 12.5, 50, 85, 90, 99.9, 100} {
			want := percentile(slices.Clone(a), p)
			if got := percentileInPlace(a, p); got != want {
				t.Errorf("n=%d p=%v: %v, sorting gives %v", n, p, got, want)
			}
		}
		if !slices.Equal(a, before) {
			t.Errorf("n=%d: the data changed", n)
		}
	}
}

// TestSelectNth compares the selection with sorting on data with many ties.
func TestSelectNth(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for trial := 0; trial < 200; trial++ {
		n := 1 + rng.IntN(300)
		a := make([]float32, n)
		for i := range a {
			a[i] = float32(rng.IntN(1 + trial%20))
		}
		sorted := slices.Sorted(slices.Values(a))
		k := rng.IntN(n)
		b := slices.Clone(a)
		if got := selectNth(b, k); got != sorted[k] {
			t.Fatalf("selectNth(%v, %d) = %v, want %v", a, k, got, sorted[k])
		}
		for i := range b {
			if (i < k && b[i] > b[k]) || (i > k && b[i] < b[k]) {
				t.Fatalf("not partitioned around %d: %v", k, b)
			}
		}
	}
}

// TestTorchSoftmax checks the emulation of torch.softmax on the fixture's logits: its probabilities
// give OpenOOD's GEN scores, which take 1 − p of probabilities next to 1 (see TestOpenOODMethods); here,
// basic properties on hard rows.
func TestTorchSoftmax(t *testing.T) {
	for _, row := range [][]float32{{0, 0}, {1000, 0, -1000}, {-200, -200, -200.5}, {3, 1, 0.2, -7, 11.25, 4, 2, 0, 1, 9, -1}} {
		p := make([]float32, len(row))
		torchSoftmax(p, row)
		s := 0.0
		for j, v := range p {
			m, z := float64(maxOf(row)), 0.0
			for _, x := range row {
				z += math.Exp(float64(x) - m)
			}
			want := math.Exp(float64(row[j])-m) / z
			if math.Abs(float64(v)-want) > 4e-7*want+1e-38 {
				t.Errorf("softmax(%v)[%d] = %g, want %g", row, j, v, want)
			}
			s += float64(v)
		}
		if math.Abs(s-1) > 1e-6 {
			t.Errorf("softmax(%v) sums to %v", row, s)
		}
	}
	for _, x := range []float32{0, -1, 1, -87.3, -103.9, -104.5, 50, 88, -1e-8} {
		got, want := sleefExpf(x), math.Exp(float64(x))
		if x < -104 {
			want = 0
		}
		if math.Abs(float64(got)-want) > 2e-7*want+1.5e-45 { // one denormal ulp
			t.Errorf("sleefExpf(%v) = %g, want %g", x, got, want)
		}
	}
}

func TestParseMethods(t *testing.T) {
	probe := NeedFeatures | NeedLogits | NeedHead | NeedLabels
	all, err := ParseMethods([]string{"all"}, []string{"vim.dim=8", "she.metric=cosine", "fdbd.distance_as_normalizer=False"}, probe)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range all {
		names = append(names, s.Method.Name)
	}
	want := []string{"gen", "klm", "vim", "react", "ash", "ash_p", "ash_s", "scale", "dice", "fdbd", "knn_kth", "nnguide", "mds", "rmds", "she"}
	if !slices.Equal(names, want) {
		t.Errorf("all = %v, want %v", names, want)
	}
	for _, s := range all {
		switch s.Method.Name {
		case "vim":
			if s.Int("dim") != 8 || s.Label() != "vim (dim=8)" || s.NumericParams()["dim"] != 8 {
				t.Errorf("vim: dim %d, label %q, params %v", s.Int("dim"), s.Label(), s.NumericParams())
			}
		case "she":
			if s.Choice("metric") != "cosine" || s.NamedParams()["metric"] != "cosine" || len(s.NumericParams()) != 0 {
				t.Errorf("she: %v %v", s.NamedParams(), s.NumericParams())
			}
		case "fdbd":
			if s.Bool("distance_as_normalizer") || s.NumericParams()["distance_as_normalizer"] != 0 {
				t.Errorf("fdbd: %v", s.Values())
			}
		case "gen":
			if s.Float("gamma") != 0.1 || s.Int("M") != 100 {
				t.Errorf("gen defaults: %v", s.Values())
			}
		}
	}
	got, err := ParseMethods([]string{"mds", " knn_kth", "mds", ""}, nil, NeedFeatures|NeedLabels)
	if err != nil || len(got) != 2 || got[0].Method.Name != "mds" || got[1].Method.Name != "knn_kth" {
		t.Errorf("mds, knn_kth: %v %v", got, err)
	}
	zs, err := ParseMethods([]string{"all"}, nil, NeedFeatures|NeedLogits|NeedLabels|NeedZeroShot)
	if err != nil || !slices.ContainsFunc(zs, func(s Setting) bool { return s.Method.Name == "mcm" }) {
		t.Errorf("all with zero-shot logits lacks mcm: %v", err)
	}
	for _, tt := range []struct {
		names, params []string
		want          string
	}{
		{[]string{"nope"}, nil, `unknown post-hoc method "nope"`},
		{[]string{"mcm"}, nil, "needs zero-shot logits"},
		{[]string{"gen"}, []string{"gen.gamma"}, "not NAME.KEY=VALUE"},
		{[]string{"gen"}, []string{"gen.gamma=abc"}, "not a number"},
		{[]string{"gen"}, []string{"gen.gamma=-1"}, "outside"},
		{[]string{"gen"}, []string{"gen.M=1.5"}, "not an integer"},
		{[]string{"gen"}, []string{"gen.tau=1"}, `no parameter "tau"`},
		{[]string{"gen"}, []string{"mcm.tau=1"}, "not among the selected"},
		{[]string{"klm"}, []string{"klm.x=1"}, "takes no parameters"},
		{[]string{"she"}, []string{"she.metric=l3"}, "not one of"},
		{[]string{"fdbd"}, []string{"fdbd.distance_as_normalizer=maybe"}, "not true or false"},
	} {
		_, err := ParseMethods(tt.names, tt.params, probe)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseMethods(%v, %v) = %v, want an error containing %q", tt.names, tt.params, err, tt.want)
		}
	}
}

// TestFitErrors checks that inputs a method cannot use are refused with a clear error.
func TestFitErrors(t *testing.T) {
	fit, in := fixtureFit(t)
	setting := func(name string, values map[string]string) Setting {
		m, err := LookupMethod(name)
		if err != nil {
			t.Fatal(err)
		}
		s, err := m.NewSetting(values)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	bad := *fit
	bad.Weight = bad.Weight[:10]
	noLabels := *fit
	noLabels.Labels = nil
	nan := *fit
	nan.Features = slices.Clone(fit.Features)
	nan.Features[7] = float32(math.NaN())
	for _, tt := range []struct {
		s    Setting
		d    *FitData
		want string
	}{
		{setting("vim", map[string]string{"dim": "48"}), fit, "less than the feature width"},
		{setting("vim", nil), &bad, "head has"},
		{setting("mds", nil), &noLabels, "training labels"},
		{setting("knn_kth", map[string]string{"K": "3001"}), fit, "exceeds the 3000"},
		{setting("nnguide", map[string]string{"K": "100", "alpha": "0.01"}), fit, "exceeds the 30 samples"},
		{setting("react", nil), &nan, "non-finite"},
		{setting("ash", map[string]string{"percentile": "100"}), fit, "keeps no activation"},
		{setting("mcm", nil), fit, "zero-shot"},
	} {
		if _, err := tt.s.Fit(tt.d); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Fit = %v, want an error containing %q", tt.s.Label(), err, tt.want)
		}
	}
	det, err := setting("gen", nil).Fit(fit)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := det.Score(Batch{Logits: in.f32("test_logits")[:15]}); err == nil {
		t.Error("gen scored logits that are not rows of 10")
	}
	det, err = setting("knn_kth", nil).Fit(fit)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := det.Score(Batch{}); err != nil {
		t.Errorf("an empty batch: %v", err)
	}
}

// TestSHEMissingClass checks SHE's patterns for classes OpenOOD leaves NaN: without correctly predicted
// training samples (the class's mean) and without any training sample (the mean of all).
func TestSHEMissingClass(t *testing.T) {
	// Two features, three classes; class 1 has one sample, predicted as class 0; class 2 has none.
	d := &FitData{Dim: 2, Classes: 3, Features: []float32{1, 0, 3, 0, 0, 4}, Labels: []int64{0, 0, 1},
		Logits: []float32{1, 0, 0, 1, 0, 0, 1, 0, 0}}
	m, err := LookupMethod("she")
	if err != nil {
		t.Fatal(err)
	}
	s, err := m.NewSetting(nil)
	if err != nil {
		t.Fatal(err)
	}
	det, err := s.Fit(d)
	if err != nil {
		t.Fatal(err)
	}
	want := []float32{2, 0, 0, 4, 4.0 / 3, 4.0 / 3}
	if got := det.(*SHE).patterns; !slices.Equal(got, want) {
		t.Errorf("patterns %v, want %v", got, want)
	}
	// A sample predicted as class 2 scores its inner product with the mean of all training features.
	got, err := det.Score(Batch{Features: []float32{3, 3}, Logits: []float32{0, 0, 1}})
	if err != nil || len(got) != 1 || math.Abs(got[0]-8) > 1e-6 {
		t.Errorf("score %v (%v), want 8", got, err)
	}
}

func TestAllFinite(t *testing.T) {
	x := make([]float32, 5*7)
	if err := allFinite(x, 7, "feature"); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1))} {
		for _, at := range []int{0, 9, 33, 34} {
			y := slices.Clone(x)
			y[at] = bad
			err := allFinite(y, 7, "feature")
			want := fmt.Sprintf("feature %d has a non-finite value (%v) at column %d", at/7, bad, at%7)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%v at %d: %v, want %q", bad, at, err, want)
			}
		}
	}
}

// TestTopInnerProducts compares the tiled search with a brute-force one, on tiles smaller than the data.
func TestTopInnerProducts(t *testing.T) {
	defer func(old [2]int) { bankTile = old }(bankTile)
	rng := rand.New(rand.NewPCG(9, 10))
	const n, m, dim, k = 29, 101, 5, 7
	q, bank, add := make([]float32, n*dim), make([]float32, m*dim), make([]float32, m)
	for i := range q {
		q[i] = float32(rng.NormFloat64())
	}
	for i := range bank {
		bank[i] = float32(rng.IntN(5)) // ties
	}
	for i := range add {
		add[i] = float32(rng.IntN(3))
	}
	for _, tile := range [][2]int{{512, 8192}, {4, 13}, {1, 1}} {
		bankTile = tile
		for _, a := range [][]float32{nil, add} {
			got := topInnerProducts(q, n, bank, m, dim, a, k)
			for i := 0; i < n; i++ {
				all := make([]float32, m)
				for j := 0; j < m; j++ {
					s := float32(0)
					for c := 0; c < dim; c++ {
						s += q[i*dim+c] * bank[j*dim+c]
					}
					if a != nil {
						s += a[j]
					}
					all[j] = s
				}
				slices.Sort(all)
				slices.Reverse(all)
				for j := 0; j < k; j++ {
					if d := got[i*k+j] - all[j]; d > 1e-5 || d < -1e-5 {
						t.Fatalf("tile %v add %v: row %d top %d = %v, want %v", tile, a != nil, i, j, got[i*k+j], all[j])
					}
				}
			}
		}
	}
}
