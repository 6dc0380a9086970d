package main

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
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

// toyStore writes the embedding store most eval tests use into a new folder: CIFAR10 train (ntrain) and
// test (ntest) splits of 10 Gaussian classes in 20 dimensions, and a CIFAR100 test split (ntest) far from
// every class.
func toyStore(t *testing.T, ntrain, ntest int) string {
	t.Helper()
	dir := t.TempDir()
	writeBlobs(t, dir, "CIFAR10", "train", ntrain, 20, 10, 0, 1)
	writeBlobs(t, dir, "CIFAR10", "test", ntest, 20, 10, 0, 2)
	writeBlobs(t, dir, "CIFAR100", "test", ntest, 20, 10, -1, 3)
	return dir
}

// toyProbe trains a probe on toyStore's CIFAR10 (model "toy") into dir/probe, with extra flags.
func toyProbe(t *testing.T, dir string, flags ...string) string {
	t.Helper()
	probe := filepath.Join(dir, "probe")
	args := append([]string{"probe", "--embeds", dir, "--model", "toy", "--dataset", "CIFAR10", "--out", probe, "--quiet"}, flags...)
	if out, err := runApp(t, args...); err != nil {
		t.Fatalf("probe: %v\n%s", err, out)
	}
	return probe
}

// runApp runs the CLI with args and returns its standard output followed by its standard error.
func runApp(t *testing.T, args ...string) (string, error) {
	t.Helper()
	out, errs, err := runCLI("", args...)
	return out + errs, err
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
	// The accuracy is printed once as a percentage: the probe's validation accuracy is a fraction.
	var acc float64
	if _, err := fmt.Sscanf(out[strings.Index(out, "ID test accuracy"):], "ID test accuracy %f%%", &acc); err != nil {
		t.Fatalf("no accuracy line in:\n%s", out)
	}
	if math.Abs(acc-100*hp.ValAcc) > 1e-9 {
		t.Errorf("eval prints ID test accuracy %.4f%%, the probe measured %.4f%%", acc, 100*hp.ValAcc)
	}
	if _, err := runApp(t, "eval", "--probe", probe, "--embeds", dir, "--ood", "SUN", "--overwrite"); err == nil {
		t.Fatal("eval with a missing OOD set succeeded")
	}

	// A second eval into the same folder is refused; with --overwrite the earlier run's plots go.
	if _, err := runApp(t, "eval", "--probe", probe, "--embeds", dir); err == nil || !strings.Contains(err.Error(), "--overwrite") {
		t.Fatalf("eval over existing reports: err = %v, want a refusal naming --overwrite", err)
	}
	if out, err := runApp(t, "eval", "--probe", probe, "--embeds", dir, "--no-plots", "--overwrite"); err != nil {
		t.Fatalf("eval --overwrite: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(probe, "plots")); !os.IsNotExist(err) {
		t.Errorf("plots of the earlier eval survived a --no-plots --overwrite run (%v)", err)
	}
}

// TestProbeRefusals checks probe's answers to inputs that would give a wrong probe, and that a failed run
// leaves no folder behind.
func TestProbeRefusals(t *testing.T) {
	dir := t.TempDir()
	writeBlobs(t, dir, "CIFAR10", "train", 100, 20, 10, 0, 1)
	writeBlobs(t, dir, "CIFAR10", "test", 50, 20, 10, 0, 2)
	two := filepath.Join(dir, "two.txt")
	if err := os.WriteFile(two, []byte("cat\ndog\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	base := []string{"probe", "--embeds", dir, "--model", "toy", "--dataset", "CIFAR10", "--epochs", "1", "--quiet"}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--classes", two}, "has 2 names but CIFAR10 has 10 classes"},
		{[]string{"--pseudo-labels"}, "--pseudo-labels needs --weights"},
	} {
		out := filepath.Join(dir, "fresh", "probe")
		_, err := runApp(t, append(append(slices.Clone(base), "--out", out), tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want %q", tc.args, err, tc.want)
		}
		if _, err := os.Stat(filepath.Join(dir, "fresh")); !os.IsNotExist(err) {
			t.Errorf("%v: the failed run left %s behind", tc.args, filepath.Join(dir, "fresh"))
		}
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
