package eval

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// openoodReference is testdata/openood.json: per method its parameters and the AUROC/FPR95 (percent)
// of reference outputs of OpenOOD's postprocessors on inputs.safetensors.
type openoodReference struct {
	Methods map[string]struct {
		Params map[string]any             `json:"params"`
		Sets   map[string]referenceMetric `json:"-"`
		Near   referenceMetric            `json:"near"`
		Far    referenceMetric            `json:"far"`
	} `json:"methods"`
}

func loadOpenOOD(t *testing.T) openoodReference {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "openood.json"))
	if err != nil {
		t.Fatal(err)
	}
	var r openoodReference
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// fixtureFit returns the training split of inputs.safetensors with the head.
func fixtureFit(t *testing.T) (*FitData, *tensorFile) {
	in := openTensors(t, "inputs.safetensors")
	return &FitData{Dim: 48, Classes: classes, Features: in.f32("train_x"), Logits: in.f32("train_logits"),
		Labels: in.i64("train_y"), Weight: in.f32("W"), Bias: in.f32("b")}, in
}

// TestOpenOODMethods fits every method with OpenOOD's parameters on the fixture's train split and
// checks its scores on the ID test, near and far sets against OpenOOD's to 1e-5 relative, and the
// AUROC and FPR95 computed from them against OpenOOD's to 1e-3 (percent).
func TestOpenOODMethods(t *testing.T) {
	ref := loadOpenOOD(t)
	want := openTensors(t, "openood_scores.safetensors")
	fit, in := fixtureFit(t)
	batch := func(set string) Batch {
		return Batch{Features: in.f32(set + "_x"), Logits: in.f32(set + "_logits")}
	}
	// Scores that are the difference of two larger terms are compared relative to the larger term:
	// ViM's energy and virtual logit, and rmds's class and background distances (OpenOOD computes both
	// in float32, so its own rounding is 1e-7 of the terms).
	energy := func(set string, i int) float64 {
		return math.Abs(logSumExp(batch(set).Logits[i*classes : (i+1)*classes]))
	}
	mdsScore := map[string][]float64{"test": want.f64("mds/id"), "near": want.f64("mds/near"), "far": want.f64("mds/far")}
	distance := func(set string, i int) float64 { return math.Abs(mdsScore[set][i]) }
	tests := []struct {
		name  string
		scale func(set string, i int) float64 // magnitude of the terms; nil: the score itself
	}{
		{"gen", nil}, {"klm", nil}, {"vim", energy}, {"react", nil}, {"ash", nil}, {"scale", nil}, {"dice", nil},
		{"fdbd", nil}, {"knn_kth", nil}, {"nnguide", nil}, {"mds", nil}, {"rmds", distance}, {"she", nil},
	}
	if len(tests) != len(ref.Methods) {
		t.Errorf("testing %d methods, the reference has %d", len(tests), len(ref.Methods))
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, ok := ref.Methods[tt.name]
			if !ok {
				t.Fatalf("no reference for %s", tt.name)
			}
			values := map[string]string{}
			for k, v := range r.Params {
				switch v := v.(type) {
				case float64:
					values[k] = strconv.FormatFloat(v, 'g', -1, 64)
				case bool:
					values[k] = strconv.FormatBool(v)
				case string:
					values[k] = v
				}
			}
			m, err := LookupMethod(tt.name)
			if err != nil {
				t.Fatal(err)
			}
			s, err := m.NewSetting(values)
			if err != nil {
				t.Fatal(err)
			}
			det, err := s.Fit(fit)
			if err != nil {
				t.Fatal(err)
			}
			scores := map[string][]float64{}
			for _, set := range []string{"test", "near", "far"} {
				key := set
				if set == "test" {
					key = "id"
				}
				got, err := det.Score(batch(set))
				if err != nil {
					t.Fatal(err)
				}
				w := want.f64(tt.name + "/" + key)
				if len(got) != len(w) {
					t.Fatalf("%s: %d scores, want %d", set, len(got), len(w))
				}
				worst := 0.0
				for i := range got {
					scale := math.Abs(w[i])
					if tt.scale != nil {
						scale += tt.scale(set, i)
					}
					e := math.Abs(got[i]-w[i]) / scale
					worst = max(worst, e)
					if e > 1e-5 {
						t.Errorf("%s[%d] = %.9g, want %.9g (relative error %.2g)", set, i, got[i], w[i], e)
					}
				}
				t.Logf("%s/%s: largest relative error %.3g", tt.name, key, worst)
				scores[key] = got
			}
			for set, wm := range map[string]referenceMetric{"near": r.Near, "far": r.Far} {
				auroc, err := AUROC(scores["id"], scores[set])
				if err != nil {
					t.Fatal(err)
				}
				fpr, err := FPR95(scores["id"], scores[set])
				if err != nil {
					t.Fatal(err)
				}
				if math.Abs(100*auroc-wm.AUROC) > 1e-3 || math.Abs(100*fpr-wm.FPR95) > 1e-3 {
					t.Errorf("%s: AUROC %.6f FPR95 %.6f, want %.6f %.6f", set, 100*auroc, 100*fpr, wm.AUROC, wm.FPR95)
				}
			}
		})
	}
}

// TestPostHocExtra checks the settings that openood_scores.safetensors lacks against
// posthoc_extra.safetensors (gen_posthoc_extra.py: OpenOOD's postprocessors for ash_p, ash_s, she's
// other metrics and fdbd without the distance normaliser; the MCM authors' score): scores to 1e-5
// relative, and AUROC/FPR95 to 1e-3 of those of the reference scores.
func TestPostHocExtra(t *testing.T) {
	ref := openTensors(t, "posthoc_extra.safetensors")
	fit, in := fixtureFit(t)
	zs := openTensors(t, "zeroshot.safetensors")
	zsFit := &FitData{Dim: 48, Classes: classes, Features: fit.Features, Labels: fit.Labels, ZeroShot: true,
		Logits: zs.f32("zs_logits/train_features")}
	batch := map[string]Batch{}
	for key, set := range map[string]struct{ x, zs string }{"id": {"test", "test_features"}, "near": {"near", "test_features_ood_near"}, "far": {"far", "test_features_ood_far"}} {
		batch[key] = Batch{Features: in.f32(set.x + "_x"), Logits: in.f32(set.x + "_logits")}
		batch["zs/"+key] = Batch{Logits: zs.f32("zs_logits/" + set.zs)}
	}
	settings := map[string]bool{}
	for _, name := range ref.st.Names() {
		if !strings.HasPrefix(name, "lowrank/") { // TestMDSNullSpace's
			settings[name[:strings.LastIndex(name, "/")]] = true
		}
	}
	if len(settings) != 9 {
		t.Errorf("%d settings in posthoc_extra.safetensors, want 9", len(settings))
	}
	for setting := range settings {
		t.Run(setting, func(t *testing.T) {
			name, rest, _ := strings.Cut(strings.TrimSuffix(setting, "]"), "[")
			values := map[string]string{}
			for _, kv := range strings.Split(rest, ",") {
				k, v, _ := strings.Cut(kv, "=")
				values[k] = v
			}
			m, err := LookupMethod(name)
			if err != nil {
				t.Fatal(err)
			}
			s, err := m.NewSetting(values)
			if err != nil {
				t.Fatal(err)
			}
			d, prefix := fit, ""
			if m.Needs&NeedZeroShot != 0 {
				d, prefix = zsFit, "zs/"
			}
			det, err := s.Fit(d)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string][]float64{}
			for _, key := range []string{"id", "near", "far"} {
				if got[key], err = det.Score(batch[prefix+key]); err != nil {
					t.Fatal(err)
				}
				want := ref.f64(setting + "/" + key)
				checkScores(t, setting+"/"+key, got[key], want, 1e-5, 0)
			}
			for _, set := range []string{"near", "far"} {
				g, err := Compute(got["id"], got[set])
				if err != nil {
					t.Fatal(err)
				}
				w, err := Compute(ref.f64(setting+"/id"), ref.f64(setting+"/"+set))
				if err != nil {
					t.Fatal(err)
				}
				if math.Abs(g.AUROC-w.AUROC) > 1e-3 || math.Abs(g.FPR95-w.FPR95) > 1e-3 {
					t.Errorf("%s: AUROC %.6f FPR95 %.6f, want %.6f %.6f", set, g.AUROC, g.FPR95, w.AUROC, w.FPR95)
				}
			}
		})
	}
}

// TestMDSNullSpace checks mds and rmds where the training features have constant dimensions: the
// covariance has an exact null space, which OpenOOD's pinvh drops (posthoc_extra.safetensors,
// "lowrank/..."), so half the test rows, which differ from the training data only there, score as if
// they did not.
func TestMDSNullSpace(t *testing.T) {
	ref := openTensors(t, "posthoc_extra.safetensors")
	narrow := func(name string) []float32 {
		v := ref.f64("lowrank/" + name)
		out := make([]float32, len(v))
		for i, x := range v {
			out[i] = float32(x)
		}
		return out
	}
	y := ref.f64("lowrank/train_y")
	labels := make([]int64, len(y))
	for i, v := range y {
		labels[i] = int64(v)
	}
	fit := &FitData{Dim: 12, Classes: 4, Features: narrow("train_x"), Labels: labels}
	test := narrow("test_x")
	mdsWant := ref.f64("lowrank/mds")
	for _, name := range []string{"mds", "rmds"} {
		m, err := LookupMethod(name)
		if err != nil {
			t.Fatal(err)
		}
		s, err := m.NewSetting(nil)
		if err != nil {
			t.Fatal(err)
		}
		det, err := s.Fit(fit)
		if err != nil {
			t.Fatal(err)
		}
		got, err := det.Score(Batch{Features: test})
		if err != nil {
			t.Fatal(err)
		}
		want := ref.f64("lowrank/" + name)
		for i := range got {
			// rmds is a difference of two distances: relative to the class distance (−mds).
			if e := math.Abs(got[i]-want[i]) / (math.Abs(want[i]) + math.Abs(mdsWant[i])); e > 1e-5 {
				t.Errorf("%s[%d] = %.9g, want %.9g (relative error %.2g)", name, i, got[i], want[i], e)
			}
		}
		// The null-space part of a row changes nothing.
		proj := slices.Clone(test)
		for i := 50; i < 100; i++ {
			clear(proj[i*12+6 : i*12+12])
		}
		again, err := det.Score(Batch{Features: proj})
		if err != nil {
			t.Fatal(err)
		}
		for i := range got {
			if math.Abs(again[i]-got[i]) > 1e-5*(math.Abs(got[i])+math.Abs(mdsWant[i])) {
				t.Errorf("%s[%d]: %v with the null-space part, %v without", name, i, got[i], again[i])
			}
		}
	}
}
