package eval

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type binaryCase struct {
	Name       string    `json:"name"`
	Labels     []int     `json:"labels"`
	Scores     []float64 `json:"scores"`
	AUROC      float64   `json:"auroc"`
	FPR95      float64   `json:"fpr95"`
	ROCFPR     []float64 `json:"roc_fpr"`
	ROCTPR     []float64 `json:"roc_tpr"`
	Thresholds []float64 `json:"roc_thresholds"`
	Textbook   float64   `json:"min_fpr_at_tpr_ge_095_x100"`
}

func loadBinaryCases(t *testing.T) []binaryCase {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "binary_cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cases []binaryCase
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatal(err)
	}
	if len(cases) < 9 {
		t.Fatalf("only %d binary cases", len(cases))
	}
	return cases
}

func split(labels []int, scores []float64) (id, ood []float64) {
	for i, l := range labels {
		if l == 1 {
			id = append(id, scores[i])
		} else {
			ood = append(ood, scores[i])
		}
	}
	return id, ood
}

// TestBinaryCases checks the ROC points, AUROC and FPR95 of the hand-made edge cases (ties straddling
// TPR 0.95, all scores equal, perfect and reversed separation, tiny sets, quantised MSP).
func TestBinaryCases(t *testing.T) {
	for _, c := range loadBinaryCases(t) {
		t.Run(c.Name, func(t *testing.T) {
			id, ood := split(c.Labels, c.Scores)
			r, err := ROCCurve(id, ood)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range []struct {
				name      string
				got, want []float64
			}{{"fpr", r.FPR, c.ROCFPR}, {"tpr", r.TPR, c.ROCTPR}, {"thresholds", r.Thresholds, c.Thresholds}} {
				if len(s.got) != len(s.want) {
					t.Fatalf("%s: %d points, want %d (%v vs %v)", s.name, len(s.got), len(s.want), s.got, s.want)
				}
				for i := range s.got {
					if s.got[i] != s.want[i] {
						t.Errorf("%s[%d] = %v, want %v", s.name, i, s.got[i], s.want[i])
					}
				}
			}
			m, err := Compute(id, ood)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(m.AUROC-c.AUROC) > 1e-9 {
				t.Errorf("AUROC = %.15g, want %.15g", m.AUROC, c.AUROC)
			}
			if math.Abs(m.FPR95-c.FPR95) > 1e-9 {
				t.Errorf("FPR95 = %.15g, want %.15g (textbook value %.15g)", m.FPR95, c.FPR95, c.Textbook)
			}
			auroc, _ := AUROC(id, ood)
			fpr, _ := FPR95(id, ood)
			if auroc*100 != m.AUROC || fpr*100 != m.FPR95 {
				t.Errorf("AUROC/FPR95 disagree with Compute: %v %v vs %v %v", auroc*100, fpr*100, m.AUROC, m.FPR95)
			}
		})
	}
}

// TestReferenceMetrics recomputes every AUROC and FPR95 of the reference run from its stored scores.
func TestReferenceMetrics(t *testing.T) {
	scores := openTensors(t, "scores.safetensors")
	ref := loadMetrics(t)
	if len(ref) < 20 {
		t.Fatalf("only %d reference methods", len(ref))
	}
	for method, sets := range ref {
		for set, want := range sets {
			t.Run(method+"/"+set, func(t *testing.T) {
				var m Metrics
				var err error
				idName, oodName := method+"/id", method+"/"+set
				if strings.Contains(method, "Mahalanobis") {
					m, err = Compute(scores.f64(idName), scores.f64(oodName))
				} else {
					m, err = Compute(scores.f32(idName), scores.f32(oodName))
				}
				if err != nil {
					t.Fatal(err)
				}
				if math.Abs(m.AUROC-want.AUROC) > 1e-9 || math.Abs(m.FPR95-want.FPR95) > 1e-9 {
					t.Errorf("AUROC %.15g FPR95 %.15g, want %.15g %.15g", m.AUROC, m.FPR95, want.AUROC, want.FPR95)
				}
			})
		}
	}
}

// TestAveragePrecision checks AUPR-In and AUPR-Out on cases worked out by hand from the definition
// AP = Σ (R_n − R_{n−1}) P_n over distinct thresholds.
func TestAveragePrecision(t *testing.T) {
	// 12 OOD above 9 ID: the k-th ID sample is reached at precision k/(12+k); with OOD positive and
	// negated scores the 9 ID come first and the k-th OOD sample is reached at precision k/(9+k).
	reversedIn, reversedOut := 0.0, 0.0
	for k := 1; k <= 9; k++ {
		reversedIn += float64(k) / float64(12+k) / 9
	}
	for k := 1; k <= 12; k++ {
		reversedOut += float64(k) / float64(9+k) / 12
	}
	tests := []struct {
		name          string
		id, ood       []float64
		aupIn, aupOut float64
	}{
		{"sklearn doc example", []float64{0.35, 0.8}, []float64{0.1, 0.4}, 0.5 + 0.5*2/3.0, 0.5 + 0.5*2/3.0},
		{"asymmetric", []float64{3, 1}, []float64{2}, 0.5 + 0.5*2/3.0, 0.5},
		{"tie across classes", []float64{1, 1}, []float64{1}, 2 / 3.0, 1 / 3.0},
		{"perfect", []float64{5, 6, 7}, []float64{1, 2}, 1, 1},
		{"reversed", []float64{1, 2, 3, 4, 5, 6, 7, 8, 9}, []float64{11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22}, reversedIn, reversedOut},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Compute(tc.id, tc.ood)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(m.AUPRIn-100*tc.aupIn) > 1e-12 || math.Abs(m.AUPROut-100*tc.aupOut) > 1e-12 {
				t.Errorf("AUPR in/out = %.15g/%.15g, want %.15g/%.15g", m.AUPRIn, m.AUPROut, 100*tc.aupIn, 100*tc.aupOut)
			}
			ap, err := AveragePrecision(tc.id, tc.ood)
			if err != nil || ap*100 != m.AUPRIn {
				t.Errorf("AveragePrecision = %v (%v), want %v", ap*100, err, m.AUPRIn)
			}
		})
	}
}

// TestAUROCMannWhitney compares the trapezoidal AUROC with the rank statistic on random data with
// many ties: U/(n_pos·n_neg), ties counting 1/2.
func TestAUROCMannWhitney(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := 0; trial < 20; trial++ {
		id := make([]float32, 1+rng.IntN(300))
		ood := make([]float32, 1+rng.IntN(300))
		for i := range id {
			id[i] = float32(rng.IntN(40)) / 8
		}
		for i := range ood {
			ood[i] = float32(rng.IntN(40))/8 - 0.75
		}
		u := 0.0
		for _, a := range id {
			for _, b := range ood {
				switch {
				case a > b:
					u++
				case a == b:
					u += 0.5
				}
			}
		}
		want := u / float64(len(id)*len(ood))
		got, err := AUROC(id, ood)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(got-want) > 1e-12 {
			t.Errorf("trial %d: AUROC %v, Mann-Whitney %v", trial, got, want)
		}
	}
}

func TestMetricErrors(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(1)
	tests := []struct {
		name    string
		id, ood []float64
	}{
		{"no ID", nil, []float64{1}},
		{"no OOD", []float64{1}, nil},
		{"NaN", []float64{1, nan}, []float64{0}},
		{"Inf", []float64{1}, []float64{-inf}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Compute(tc.id, tc.ood); err == nil {
				t.Error("Compute: no error")
			}
			if _, err := ROCCurve(tc.id, tc.ood); err == nil {
				t.Error("ROCCurve: no error")
			}
		})
	}
}

func TestAccuracy(t *testing.T) {
	in := openTensors(t, "inputs.safetensors")
	logits, labels := in.f32("test_logits"), in.i64("test_y")
	acc, err := Accuracy(logits, 10, labels)
	if err != nil {
		t.Fatal(err)
	}
	correct := 0 // independent count: the label's logit is strictly above all earlier and no later one exceeds it
	for i, y := range labels {
		row := logits[i*10 : (i+1)*10]
		best := true
		for j, v := range row {
			if v > row[y] || (j < int(y) && v == row[y]) {
				best = false
			}
		}
		if best {
			correct++
		}
	}
	if want := float64(correct) / 10; acc != want || acc < 50 {
		t.Errorf("accuracy %v, want %v", acc, want)
	}
	if _, err := Accuracy(logits, 10, labels[:5]); err == nil {
		t.Error("label count mismatch: no error")
	}
	if _, err := Accuracy(logits[:15], 10, labels[:1]); err == nil {
		t.Error("ragged logits: no error")
	}
}
