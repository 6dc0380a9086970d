package detect

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"plp/data"
	"plp/eval"
	"plp/weights"
)

// The reference inputs and the paper's metrics on them live with package eval's tests: features
// train_x/test_x/near_x/far_x [n, 48], their logits under a fixed linear layer, and the AUROC/FPR95 the
// paper's own code gives for every score (metrics.json, metrics_extra.json).
const refDir = "../eval/testdata"

func readTensors(t *testing.T, name string) map[string][]float32 {
	t.Helper()
	st, err := weights.OpenSafetensors(filepath.Join(refDir, name))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	out := map[string][]float32{}
	for _, n := range st.Names() {
		x, err := st.Tensor(n)
		if err != nil {
			t.Fatal(err)
		}
		if x.DType != weights.F32 {
			continue
		}
		v, err := x.Float32()
		if err != nil {
			t.Fatal(err)
		}
		out[n] = slices.Clone(v)
	}
	return out
}

func readLabels(t *testing.T) []int64 {
	t.Helper()
	st, err := weights.OpenSafetensors(filepath.Join(refDir, "inputs.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	x, err := st.Tensor("train_y")
	if err != nil {
		t.Fatal(err)
	}
	v, err := x.Int64()
	if err != nil {
		t.Fatal(err)
	}
	return slices.Clone(v)
}

type refMetric struct{ AUROC, FPR95 float64 }

// paperMetrics merges metrics.json and metrics_extra.json: key → OOD set → metrics.
func paperMetrics(t *testing.T) map[string]map[string]refMetric {
	t.Helper()
	out := map[string]map[string]refMetric{}
	for _, f := range []string{"metrics.json", "metrics_extra.json"} {
		b, err := os.ReadFile(filepath.Join(refDir, f))
		if err != nil {
			t.Fatal(err)
		}
		var r struct {
			Metrics map[string]json.RawMessage `json:"metrics"`
		}
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatal(err)
		}
		for k, raw := range r.Metrics {
			var m map[string]refMetric
			if json.Unmarshal(raw, &m) == nil && m["near"].AUROC != 0 {
				out[k] = m
			}
		}
	}
	return out
}

// store writes the reference features as an embedding store: ID set "ref" (train, test) and the OOD
// sets "near" and "far" (test), under the model name "m".
func store(t *testing.T, in map[string][]float32, labels []int64) string {
	t.Helper()
	dir := t.TempDir()
	write := func(set, split, name string, lab []int64) {
		x := in[name]
		n := len(x) / 48
		if lab == nil {
			lab = make([]int64, n)
		}
		mean, std := data.Stats(x, n, 48)
		p := data.StorePath(dir, set, "m", split)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := data.WriteEmbeddings(p, &data.Embeddings{N: n, D: 48, X: x, Labels: lab, Mean: mean, Std: std, Meta: map[string]string{}}); err != nil {
			t.Fatal(err)
		}
	}
	write("ref", "train", "train_x", labels)
	write("ref", "test", "test_x", make([]int64, 1000))
	write("near", "test", "near_x", nil)
	write("far", "test", "far_x", nil)
	return dir
}

// paperKey names a record as the reference files do, e.g. "logits/knn[k=10,metric=l2]".
func paperKey(r eval.Record) string {
	switch r.Method {
	case eval.MethodKNN:
		return fmt.Sprintf("%s/knn[k=%g,metric=%s]", r.Settings["on"], r.Params["k"], r.Settings["metric"])
	case eval.MethodMahalanobis, eval.MethodMahalanobisRelative:
		name := map[string]string{eval.MethodMahalanobis: "Mahalanobis", eval.MethodMahalanobisRelative: "Mahalanobis_relative"}[r.Method]
		if r.Settings["cov"] == string(eval.CovGlobal) {
			name += "[cov=global]"
		}
		return r.Settings["on"] + "/" + name
	case eval.MethodMax:
		return fmt.Sprintf("logits/max[norm=%s]", r.Settings["norm"])
	case eval.MethodMSP:
		return fmt.Sprintf("logits/msp[temp=%.1f]", r.Params["temperature"])
	case eval.MethodEnergy:
		return fmt.Sprintf("logits/free_energy[temp=%.1f]", r.Params["temperature"])
	case eval.MethodL1Norm:
		return "logits/l1_norm[temp=1.0]"
	case eval.MethodMaxLogit:
		return "logits/max[norm=none]"
	}
	return ""
}

// TestRunFeatureScores runs every feature-space score through Run on a store of the reference inputs
// and compares each record with the paper's AUROC and FPR95 (x100) to 1e-3. Float32 scores computed in
// a different order can split an exact ID/OOD tie of the reference at the 95% TPR threshold; the
// FPR95 may then move by one OOD sample, which eval's tests pin down on the scores themselves.
func TestRunFeatureScores(t *testing.T) {
	in := readTensors(t, "inputs.safetensors")
	labels := readLabels(t)
	dir := store(t, in, labels)
	byRows := map[int][]float32{3000: in["train_logits"], 1000: in["test_logits"], 800: in["near_logits"], 600: in["far_logits"]}
	src := Source{Classes: 10, Logits: func(x []float32, n, d int) ([]float32, error) {
		if l, ok := byRows[n]; ok && d == 48 {
			return slices.Clone(l), nil
		}
		return nil, fmt.Errorf("no logits for %d rows", n)
	}}
	out := filepath.Join(t.TempDir(), "report")
	opt := Options{Embeds: dir, Model: "m", Dataset: "ref", OOD: []string{"near", "far"}, Temperatures: []float64{1, 0.5, 2},
		Maha: true, KNN: []int{1, 10}, Out: out,
		KNNMetrics: eval.KNNMetrics(), KNNOn: []string{OnFeatures, OnLogits, OnFeaturesStd},
		MahaOn: []string{OnLogits, OnFeatures}, MahaCov: []eval.MahaCov{eval.CovClass, eval.CovGlobal},
		MaxNorms: []eval.Norm{eval.NormSoftmax, eval.NormL2, eval.NormL1, eval.NormNone}}
	res, err := Run(opt, src)
	if err != nil {
		t.Fatal(err)
	}
	paper := paperMetrics(t)
	checked, fprTies := 0, 0
	for _, r := range res.Records {
		key := paperKey(r)
		want, ok := paper[key][r.OOD]
		if !ok {
			if r.Settings["on"] != OnFeaturesStd {
				t.Errorf("%s: no reference %q", r.Label(), key)
			}
			continue
		}
		checked++
		if math.Abs(r.AUROC-want.AUROC) > 1e-3 {
			t.Errorf("%s vs %s: AUROC %.6f, want %.6f", r.Label(), r.OOD, r.AUROC, want.AUROC)
		}
		if d := math.Abs(r.FPR95 - want.FPR95); d > 1e-3 {
			if d > 100.0/map[string]float64{"near": 800, "far": 600}[r.OOD]+1e-9 {
				t.Errorf("%s vs %s: FPR95 %.6f, want %.6f", r.Label(), r.OOD, r.FPR95, want.FPR95)
			}
			fprTies++
		}
	}
	// 2 sets × (msp, energy ×3 temperatures, l1_norm, max_logit, 4 max norms, 4 Mahalanobis on logits,
	// 4 on features, 12 kNN on features, 12 on logits).
	if want := 2 * (3 + 3 + 1 + 1 + 4 + 4 + 4 + 12 + 12); checked != want {
		t.Errorf("%d records checked against the paper, want %d", checked, want)
	}
	if fprTies > 2 {
		t.Errorf("%d FPR95 values one OOD sample off (reference ties), want at most 2", fprTies)
	}
	b, err := os.ReadFile(filepath.Join(out, "ood_metrics.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"metric": "temp-cos-sim"`, `"on": "features-std"`, `"cov": "global"`, `"norm": "l2"`, `"temperature": 0.02`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("ood_metrics.json lacks %s", want)
		}
	}
	recs, err := eval.ReadJSON(strings.NewReader(string(b)))
	if err != nil || len(recs) != len(res.Records) {
		t.Fatalf("reading ood_metrics.json back: %d records, %v", len(recs), err)
	}
}

// TestRunDefaults checks that a run without the feature-space options writes today's records.
func TestRunDefaults(t *testing.T) {
	in := readTensors(t, "inputs.safetensors")
	dir := store(t, in, readLabels(t))
	res, err := Run(Options{Embeds: dir, Model: "m", Dataset: "ref", OOD: []string{"near"}, KNN: []int{1}}, Source{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Records) != 1 || res.Records[0].Label() != "knn (k=1, metric=cos-sim, on=features)" {
		t.Fatalf("records %+v", res.Records)
	}
	for _, bad := range []Options{
		{KNN: []int{1}, KNNOn: []string{OnLogits}},
		{KNN: []int{1}, KNNOn: []string{"pixels"}},
		{KNN: []int{1}, KNNMetrics: []eval.KNNMetric{"cosine"}},
		{Maha: true, MahaCov: []eval.MahaCov{"pooled"}},
		{MaxNorms: []eval.Norm{"l3"}},
	} {
		bad.Embeds, bad.Model, bad.Dataset, bad.OOD = dir, "m", "ref", []string{"near"}
		if _, err := Run(bad, Source{}); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}
