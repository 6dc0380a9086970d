package main

import (
	"encoding/binary"
	"fmt"
	"math"
	"path/filepath"
	"testing"

	"plp/data"
	"plp/eval"
	"plp/weights"
)

// testdata/finetuned is a `plp finetune` folder (the timm ViT fixture fine-tuned for two epochs on fake
// CIFAR-10, EMA on); finetuned_reference.safetensors holds the ood_ft_model notebook's evaluation of it,
// computed with torch: timm's VisionTransformer with the EMA encoder, the EMA head, and the paper's
// eval/ood_scores.py functions with the notebook's eval arguments, on the logits (the notebook's) and on
// the features.
func TestEvalFinetunedMatchesNotebook(t *testing.T) {
	dir := t.TempDir()
	store, rep := filepath.Join(dir, "store"), filepath.Join(dir, "rep")
	if out, err := runPLP(t, "eval", "--finetuned", "testdata/finetuned", "--model", fixtureDir+"timm_vit_head.json",
		"--data-root", embedData, "--embeds", store, "--out", rep, "--no-plots"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	st, err := weights.OpenSafetensors("testdata/finetuned_reference.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ref := func(name string) []float64 {
		x, err := st.Tensor(name)
		if err != nil {
			t.Fatal(err)
		}
		if x.DType == weights.F64 {
			out := make([]float64, len(x.Data)/8)
			for i := range out {
				out[i] = math.Float64frombits(binary.LittleEndian.Uint64(x.Data[8*i:]))
			}
			return out
		}
		v, err := x.Float32()
		if err != nil {
			t.Fatal(err)
		}
		out := make([]float64, len(v))
		for i, f := range v {
			out[i] = float64(f)
		}
		return out
	}

	// The cached features are timm's on the same images.
	matches, _ := filepath.Glob(filepath.Join(store, "CIFAR10", "finetuned_*", "test.safetensors"))
	if len(matches) != 1 {
		t.Fatalf("cached test splits %v", matches)
	}
	e, err := data.ReadEmbeddings(matches[0])
	if err != nil {
		t.Fatal(err)
	}
	for i, w := range ref("inputs/features/id") {
		if g := float64(e.X[i]); math.Abs(g-w) > 1e-4*(1+math.Abs(w)) {
			t.Fatalf("feature %d = %v, timm gives %v", i, g, w)
		}
	}

	keys := map[string]string{
		"msp (temperature=1)":    "msp",
		"energy (temperature=1)": "energy",
		"l1_norm":                "l1_norm",
		"max (norm=l1)":          "max_l1",
		"max (norm=softmax)":     "max_softmax",
	}
	for _, on := range []string{"logits", "features"} {
		keys[fmt.Sprintf("knn (k=1, metric=temp-cos-sim, on=%s, temperature=0.02)", on)] = on + "/knn"
	}
	// Mahalanobis on the logits only: the features leave the ViT's final LayerNorm, so they lie on a
	// hyperplane and their covariances are singular (condition number 6e15 here); torch.inverse returns
	// rounding noise for them, and plp does not score them unless asked (--maha-on features).
	keys["mahalanobis (cov=class, on=logits)"] = "logits/mahalanobis"
	keys["mahalanobis_relative (cov=class, on=logits)"] = "logits/mahalanobis_relative"
	seen := 0
	for _, r := range readRecords(t, rep) {
		k, ok := keys[r.Label()]
		if !ok {
			continue // max_logit: not in the notebook's table
		}
		seen++
		want, err := eval.Compute(ref(k+"/id"), ref(k+"/ood"))
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(r.AUROC-want.AUROC) > 1e-3 || math.Abs(r.FPR95-want.FPR95) > 1e-3 {
			t.Errorf("%s: AUROC %.4f FPR95 %.4f, the notebook's %.4f %.4f", r.Label(), r.AUROC, r.FPR95, want.AUROC, want.FPR95)
		}
	}
	if seen != len(keys) {
		t.Errorf("%d of the notebook's %d scores in ood_metrics.json", seen, len(keys))
	}
}
