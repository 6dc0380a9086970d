package main

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"plp/data"
	"plp/eval"
	"plp/tensor"
	"plp/train"
	"plp/weights"
	"plp/zoo"
)

func readRecords(t *testing.T, dir string) []eval.Record {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "ood_metrics.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := eval.ReadJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// TestEvalFinetuned fine-tunes the CLIP fixture's tower for one epoch, then scores it as the paper's
// ood_ft_model notebook: the EMA weights embed each split once into the store, the head's logits
// give the logit scores, and kNN (temp-cos-sim, k=1) and Mahalanobis run on logits and on features.
func TestEvalFinetuned(t *testing.T) {
	dir := t.TempDir()
	ft := filepath.Join(dir, "ft")
	if out, err := runPLP(t, "finetune", "--model", embedModel, "--weights", embedWeights, "--dataset", "CIFAR10", "--data-root", embedData,
		"--out", ft, "--batch", "8", "--limit", "16", "--epochs", "1", "--ema-decay", "0.9"); err != nil {
		t.Fatalf("finetune: %v\n%s", err, out)
	}
	store, rep := filepath.Join(dir, "store"), filepath.Join(dir, "rep")
	args := []string{"eval", "--finetuned", ft, "--model", embedModel, "--data-root", embedData, "--embeds", store, "--out", rep, "--no-plots", "--batch", "7"}
	out, err := runPLP(t, args...)
	if err != nil {
		t.Fatalf("eval --finetuned: %v\n%s", err, out)
	}
	recs := readRecords(t, rep)
	got := map[string]bool{}
	for _, r := range recs {
		if r.OOD != "CIFAR100" || r.ID != "CIFAR10" {
			t.Errorf("record %s: %s vs %s", r.Label(), r.ID, r.OOD)
		}
		got[r.Label()] = true
	}
	for _, want := range []string{"msp (temperature=1)", "energy (temperature=1)", "l1_norm", "max (norm=l1)", "max (norm=softmax)",
		"knn (k=1, metric=temp-cos-sim, on=logits, temperature=0.02)", "knn (k=1, metric=temp-cos-sim, on=features, temperature=0.02)",
		"mahalanobis (cov=class, on=logits)", "mahalanobis_relative (cov=class, on=logits)"} {
		if !got[want] {
			t.Errorf("no record %q among %v", want, slices.Sorted(func(yield func(string) bool) {
				for k := range got {
					if !yield(k) {
						return
					}
				}
			}))
		}
	}

	// The cache holds the EMA weights' features: the test split's rows, passed through the head, are the
	// logits the fine-tuned encoder computes in training mode's code path on the same images.
	sha, err := data.WeightsSHA256(filepath.Join(ft, "model_ema.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	spec, err := zoo.Resolve(embedModel)
	if err != nil {
		t.Fatal(err)
	}
	key := "finetuned_" + data.ModelDirName(spec.Name) + "_" + sha[:12]
	test, err := data.ReadEmbeddings(data.StorePath(store, "CIFAR10", key, "test"))
	if err != nil {
		t.Fatalf("the store lacks the fine-tuned test split: %v", err)
	}
	if test.Meta["weights_sha256"] != sha || test.Meta["embedding"] != data.KindEmbed {
		t.Errorf("cached split metadata %v", test.Meta)
	}
	st, err := weights.OpenSafetensors(filepath.Join(ft, "model_ema.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	be := tensor.CPU{}
	enc, err := train.LoadEncoder(spec, st, be)
	if err != nil {
		t.Fatal(err)
	}
	tr := train.FinetuneTransform(spec.Config.ImageSize()) // what plp finetune trained with
	ds, err := data.Open("CIFAR10", embedData, "test")
	if err != nil {
		t.Fatal(err)
	}
	s := enc.ImageSize()
	x := make([]float32, 0, 2*3*s*s)
	for i := 0; i < 2; i++ {
		img, err := ds.Load(i)
		if err != nil {
			t.Fatal(err)
		}
		_, px, err := tr.Apply(img)
		if err != nil {
			t.Fatal(err)
		}
		x = append(x, px...)
	}
	feat, _, err := enc.Forward(train.NewTape(be), train.Const(be.FromHost(x, 2, 3, s, s)))
	if err != nil {
		t.Fatal(err)
	}
	want := be.ToHost(feat.Value)
	for i, v := range want {
		if g := test.X[i]; math.Abs(float64(g-v)) > 1e-4*(1+math.Abs(float64(v))) {
			t.Fatalf("cached feature %d = %v, the trained encoder gives %v", i, g, v)
		}
	}

	// A second run reads the store only.
	out, err = runPLP(t, append(args, "--overwrite")...)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, "cached ") {
		t.Errorf("second run embedded again:\n%s", out)
	}
}

// TestEvalClassifier scores a tiny timm classifier's own logits (Baseline 1). The logits it caches are
// timm's: on the fixture's reference images the encoder returns the reference logits.
func TestEvalClassifier(t *testing.T) {
	m, err := zoo.Load(fixtureDir+"timm_vit_head.json", fixtureDir+"timm_vit_head.safetensors", tensor.CPU{})
	if err != nil {
		t.Fatal(err)
	}
	enc, err := data.NewTowerEncoder(m, true)
	if err != nil {
		t.Fatal(err)
	}
	io, err := weights.OpenSafetensors(fixtureDir + "timm_vit_head_io.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	defer io.Close()
	read := func(name string) []float32 {
		x, err := io.Tensor(name)
		if err != nil {
			t.Fatal(err)
		}
		v, err := x.Float32()
		if err != nil {
			t.Fatal(err)
		}
		return slices.Clone(v)
	}
	got, err := enc.Encode(read("image"), 4)
	if err != nil {
		t.Fatal(err)
	}
	for i, w := range read("logits") {
		if math.Abs(float64(got[i]-w)) > 1e-4*(1+math.Abs(float64(w))) {
			t.Fatalf("logit %d = %v, timm gives %v", i, got[i], w)
		}
	}

	dir := t.TempDir()
	store, rep := filepath.Join(dir, "store"), filepath.Join(dir, "rep")
	out, err := runPLP(t, "eval", "--classifier", "--model", fixtureDir+"timm_vit_head.json", "--weights", fixtureDir+"timm_vit_head.safetensors",
		"--dataset", "CIFAR10", "--data-root", embedData, "--embeds", store, "--out", rep, "--no-plots")
	if err != nil {
		t.Fatalf("eval --classifier: %v\n%s", err, out)
	}
	// classifier_reference.safetensors: baseline_fine_tuned_models.py's computation in torch (timm's
	// ViT with its head on the script's transform, then the paper's free_energy and msp at T = 1).
	refST, err := weights.OpenSafetensors("testdata/classifier_reference.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	defer refST.Close()
	ref := func(name string) []float32 {
		x, err := refST.Tensor(name)
		if err != nil {
			t.Fatal(err)
		}
		v, err := x.Float32()
		if err != nil {
			t.Fatal(err)
		}
		return slices.Clone(v)
	}
	methods := map[string]bool{}
	for _, r := range readRecords(t, rep) {
		methods[r.Method] = true
		key := map[string]string{"msp": "msp", "energy": "energy"}[r.Method]
		if key == "" {
			continue
		}
		want, err := eval.Compute(ref(key+"/id"), ref(key+"/ood"))
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(r.AUROC-want.AUROC) > 1e-3 || math.Abs(r.FPR95-want.FPR95) > 1e-3 {
			t.Errorf("%s: AUROC %.4f FPR95 %.4f, the baseline script's %.4f %.4f", r.Label(), r.AUROC, r.FPR95, want.AUROC, want.FPR95)
		}
	}
	if !methods["msp"] || !methods["energy"] || methods["mahalanobis"] {
		t.Errorf("methods %v: want msp and energy, no Mahalanobis", methods)
	}
	// The cached logits are the script's, on its transform.
	id, err := data.ReadEmbeddings(mustGlob(t, filepath.Join(store, "CIFAR10", "classifier_*", "test.safetensors")))
	if err != nil {
		t.Fatal(err)
	}
	for i, w := range ref("logits/id") {
		if math.Abs(float64(id.X[i]-w)) > 1e-4*(1+math.Abs(float64(w))) {
			t.Fatalf("cached logit %d = %v, the baseline script's %v", i, id.X[i], w)
		}
	}
	// Only the test splits are embedded: logit scores need no train split.
	matches, _ := filepath.Glob(filepath.Join(store, "*", "classifier_*", "*.safetensors"))
	if len(matches) != 2 {
		t.Errorf("store files %v, want the CIFAR10 and CIFAR100 test splits", matches)
	}
	for _, p := range matches {
		e, err := data.ReadEmbeddings(p)
		if err != nil || e.D != 10 || e.Meta["embedding"] != "logits" || !strings.HasPrefix(e.Meta["transform"], "baseline64: resize squash 73") {
			t.Errorf("%s: %v %+v", p, err, e.Meta)
		}
	}
}

// mustGlob returns the single file matching pattern.
func mustGlob(t *testing.T, pattern string) string {
	t.Helper()
	m, _ := filepath.Glob(pattern)
	if len(m) != 1 {
		t.Fatalf("%s matches %v, want one file", pattern, m)
	}
	return m[0]
}
