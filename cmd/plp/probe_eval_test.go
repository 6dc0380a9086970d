package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"plp/data"
	"plp/eval"
)

// writeBlobs stores n samples of a d-dimensional Gaussian mixture with one blob per class along the axes
// first, first+1, ...; first < 0 leaves only the noise (an OOD set near no class).
func writeBlobs(t *testing.T, dir, dataset, split string, n, d, classes, first int, seed uint64) {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 9))
	e := &data.Embeddings{N: n, D: d, X: make([]float32, n*d), Labels: make([]int64, n)}
	for i := 0; i < n; i++ {
		c := i % classes
		e.Labels[i] = int64(c)
		for j := 0; j < d; j++ {
			e.X[i*d+j] = float32(r.NormFloat64())
		}
		if first >= 0 {
			e.X[i*d+first+c] += 5
		}
	}
	p := data.StorePath(dir, dataset, "toy", split)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := data.WriteEmbeddings(p, e); err != nil {
		t.Fatal(err)
	}
}

func runApp(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	app := newApp()
	app.Writer, app.ErrWriter = &out, &errb
	err := app.Run(context.Background(), append([]string{"plp"}, args...))
	return out.String() + errb.String(), err
}

func TestProbeThenEval(t *testing.T) {
	dir := t.TempDir()
	const d, classes = 20, 10
	writeBlobs(t, dir, "CIFAR10", "train", 400, d, classes, 0, 1)
	writeBlobs(t, dir, "CIFAR10", "test", 200, d, classes, 0, 2)
	writeBlobs(t, dir, "CIFAR100", "test", 200, d, classes, -1, 3)
	probe := filepath.Join(dir, "probe")
	out, err := runApp(t, "probe", "--embeds", dir, "--model", "toy", "--dataset", "CIFAR10", "--out", probe,
		"--epochs", "30", "--batch", "64", "--lr", "1e-2", "--quiet")
	if err != nil {
		t.Fatalf("probe: %v\n%s", err, out)
	}
	var hp probeHP
	b, err := os.ReadFile(filepath.Join(probe, "hp.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &hp); err != nil {
		t.Fatal(err)
	}
	if hp.ValAcc < 0.95 || hp.Classes != classes || !hp.EmbedNorm || hp.Model != "toy" {
		t.Fatalf("hp.json %+v: want val_acc >= 0.95, 10 classes, embed_norm", hp)
	}
	if _, err := runApp(t, "probe", "--embeds", dir, "--model", "toy", "--dataset", "CIFAR10", "--out", probe); err == nil {
		t.Fatal("probe overwrote an existing probe without --overwrite")
	}
	out, err = runApp(t, "eval", "--probe", probe, "--embeds", dir, "--knn", "1,10", "--temperatures", "1,2")
	if err != nil {
		t.Fatalf("eval: %v\n%s", err, out)
	}
	b, err = os.ReadFile(filepath.Join(probe, "ood_metrics.json"))
	if err != nil {
		t.Fatal(err)
	}
	var recs []eval.Record
	if err := json.Unmarshal(b, &recs); err != nil {
		t.Fatal(err)
	}
	minAUROC := map[string]float64{"msp": 95, "mahalanobis_relative": 90, "knn": 95}
	seen := map[string]int{}
	for _, r := range recs {
		seen[r.Method]++
		if r.ID != "CIFAR10" || r.OOD != "CIFAR100" {
			t.Fatalf("record %+v: want CIFAR10 vs CIFAR100 (the paper's default)", r)
		}
		// A linear probe's energy and logit norms grow for inputs far from the class axes, so only the
		// scores that look at class structure must separate this toy OOD set.
		if floor, ok := minAUROC[r.Method]; ok && r.AUROC < floor {
			t.Fatalf("%s %v AUROC %.2f on OOD noise far from every class, want >= %v", r.Method, r.Params, r.AUROC, floor)
		}
	}
	want := map[string]int{"msp": 2, "energy": 2, "l1_norm": 1, "max_logit": 1, "mahalanobis": 1, "mahalanobis_relative": 1, "knn": 2}
	for m, n := range want {
		if seen[m] != n {
			t.Fatalf("%d records of %s, want %d (all: %v)", seen[m], m, n, seen)
		}
	}
	for _, f := range []string{"ood_metrics.csv", "ood_metrics.md", "plots/roc_msp_temperature-1.png", "plots/hist_knn_k-10_metric-cos-sim_on-features_CIFAR100.svg"} {
		if st, err := os.Stat(filepath.Join(probe, f)); err != nil || st.Size() == 0 {
			t.Fatalf("%s missing or empty: %v", f, err)
		}
	}
	if _, err := runApp(t, "eval", "--probe", probe, "--embeds", dir, "--ood", "SUN"); err == nil {
		t.Fatal("eval with a missing OOD set succeeded")
	}
}

// TestDemo runs the whole pipeline on the repository's fixture model and fake CIFAR data.
func TestDemo(t *testing.T) {
	out := t.TempDir()
	log, err := runApp(t, "demo", "--repo", "../..", "--out", out)
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, log)
	}
	for _, f := range []string{"embeddings/CIFAR10/openclip_vit_quickgelu/train.safetensors", "embeddings/CIFAR100/openclip_vit_quickgelu/test.safetensors",
		"probe/head.safetensors", "probe/pseudo_labels.safetensors", "probe/hp.json", "probe/ood_metrics.json"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Fatalf("demo did not write %s: %v", f, err)
		}
	}
	e, err := data.ReadEmbeddings(filepath.Join(out, "embeddings/CIFAR10/openclip_vit_quickgelu/train.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if e.N != 100 || e.D != 64 {
		t.Fatalf("CIFAR-10 train store is %d×%d, want the fake set's 100 images × ViT width 64", e.N, e.D)
	}
	b, err := os.ReadFile(filepath.Join(out, "probe/ood_metrics.json"))
	if err != nil {
		t.Fatal(err)
	}
	var recs []eval.Record
	if err := json.Unmarshal(b, &recs); err != nil || len(recs) != 8 {
		t.Fatalf("ood_metrics.json: %d records (%v), want 8 (4 logit scores, 2 Mahalanobis, 2 k-NN)", len(recs), err)
	}
}
