package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"plp/eval"
)

// TestEvalFeatureFlags checks that the feature-space flags take comma lists, reach every score, and
// that each record of ood_metrics.json names its parameters; bad values are refused while parsing.
func TestEvalFeatureFlags(t *testing.T) {
	dir := toyStore(t, 400, 200)
	probe := toyProbe(t, dir, "--epochs", "5", "--batch", "64")
	rep := filepath.Join(dir, "rep")
	out, err := runApp(t, "eval", "--probe", probe, "--embeds", dir, "--out", rep, "--no-plots", "--knn", "1,5",
		"--knn-metric", "cos-sim,temp-cos-sim,l1,l2,norm-l1,norm-l2", "--knn-temperature", "0.1", "--knn-on", "features,features-std,logits",
		"--maha-on", "logits,features", "--maha-cov", "class,global", "--max-norm", "softmax,l2,l1,none")
	if err != nil {
		t.Fatalf("eval: %v\n%s", err, out)
	}
	f, err := os.Open(filepath.Join(rep, "ood_metrics.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := eval.ReadJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, r := range recs {
		count[r.Method]++
		if r.Method == eval.MethodKNN && r.Settings["metric"] == "temp-cos-sim" && r.Params["temperature"] != 0.1 {
			t.Errorf("%s: temperature %v, want 0.1", r.Label(), r.Params["temperature"])
		}
	}
	// kNN: 2 k × 6 metrics × 3 spaces; Mahalanobis: 2 spaces × 2 covariances; max: 4 norms.
	if count["knn"] != 36 || count["mahalanobis"] != 4 || count["mahalanobis_relative"] != 4 || count["max"] != 4 {
		t.Errorf("records per method %v", count)
	}
	if !strings.Contains(out, "knn (k=5, metric=norm-l2, on=logits)") {
		t.Errorf("summary lacks the named kNN row:\n%s", out)
	}
	for _, bad := range [][]string{{"--knn-metric", "cosine"}, {"--knn-on", "pixels"}, {"--maha-cov", "pooled"},
		{"--maha-on", "features-std"}, {"--max-norm", "l3"}, {"--knn-temperature", "0"}} {
		args := append([]string{"eval", "--probe", probe, "--embeds", dir, "--out", filepath.Join(dir, "bad"), "--knn", "1"}, bad...)
		if _, err := runApp(t, args...); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
}
