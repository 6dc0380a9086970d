package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"plp/data"
	"plp/eval"
)

// TestEvalZeroShotMethods runs the CLIP zero-shot methods through plp eval --zeroshot on stores the tiny
// CLIP model embeds: glmcm waits for plp embed --patch-features, which leaves the split's file as it was;
// every record is there with its parameters, and neglabel reports encoding the whole candidate corpus
// with the text tower.
func TestEvalZeroShotMethods(t *testing.T) {
	dir := t.TempDir()
	emb := filepath.Join(dir, "emb")
	for _, ds := range []string{"CIFAR10", "CIFAR100"} {
		if out, err := runApp(t, "embed", "--model", embedModel, "--weights", embedWeights, "--dataset", ds,
			"--data-root", embedData, "--out", emb, "--batch", "16"); err != nil {
			t.Fatalf("embed %s: %v\n%s", ds, err, out)
		}
	}
	zeroShot := []string{"eval", "--zeroshot", "--model", embedModel, "--weights", embedWeights, "--dataset", "CIFAR10",
		"--embeds", emb, "--no-plots"}
	// glmcm needs patch features, which the store does not have yet.
	if out, err := runApp(t, append(zeroShot, "--methods", "glmcm")...); err == nil || !strings.Contains(err.Error(), "patch features") {
		t.Errorf("glmcm without patch features: %v\n%s", err, out)
	}
	testFile := filepath.Join(emb, "CIFAR10", "openclip_vit_quickgelu", "test.safetensors")
	before, err := os.ReadFile(testFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, ds := range []string{"CIFAR10", "CIFAR100"} {
		if out, err := runApp(t, "embed", "--model", embedModel, "--weights", embedWeights, "--dataset", ds, "--split", "test",
			"--data-root", embedData, "--out", emb, "--batch", "16", "--patch-features", "--overwrite"); err != nil {
			t.Fatalf("embed %s --patch-features: %v\n%s", ds, err, out)
		}
	}
	// The split itself is the same bytes with or without its patch features.
	if after, err := os.ReadFile(testFile); err != nil || !bytes.Equal(before, after) {
		t.Errorf("test split changed by --patch-features (%v)", err)
	}
	p, err := data.ReadPatches(data.PatchesPath(testFile))
	if err != nil || p.N != 20 || p.P != 16 || p.D != 32 {
		t.Fatalf("patch features: %v %+v", err, p)
	}

	report := filepath.Join(dir, "zs")
	out, err := runApp(t, append(zeroShot, "--out", report, "--methods", "mcm,glmcm,neglabel",
		"--method-param", "glmcm.lambda=0", "--method-param", "neglabel.ngroup=10", "--method-param", "neglabel.tau=0.02")...)
	if err != nil {
		t.Fatalf("eval: %v\n%s", err, out)
	}
	nouns, adjs, err := eval.NegLabelCorpus()
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("text tower: encoding %d texts", len(nouns)+len(adjs)); !strings.Contains(out, want) {
		t.Errorf("output lacks %q:\n%s", want, out)
	}
	b, err := os.ReadFile(filepath.Join(report, "ood_metrics.json"))
	if err != nil {
		t.Fatal(err)
	}
	recs, err := eval.ReadJSON(strings.NewReader(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	byMethod := map[string]eval.Record{}
	for _, r := range recs {
		byMethod[r.Method] = r
	}
	nl, ok := byMethod["neglabel"]
	if !ok || nl.Params["ngroup"] != 10 || nl.Params["tau"] != 0.02 || nl.Params["neg_topk"] != 0.15 || nl.Params["percentile"] != 0.95 {
		t.Errorf("neglabel record %+v", nl)
	}
	// With lambda 0 GL-MCM is MCM.
	mcm, gl := byMethod["mcm"], byMethod["glmcm"]
	if mcm.Method == "" || gl.Method == "" || gl.AUROC != mcm.AUROC || gl.FPR95 != mcm.FPR95 || gl.Params["lambda"] != 0 {
		t.Errorf("glmcm (lambda=0) %+v, mcm %+v: want the same metrics", gl, mcm)
	}
	// A second run takes the candidates' text embeddings from the store's cache, with the same result.
	out, err = runApp(t, append(zeroShot, "--out", filepath.Join(dir, "zs2"), "--methods", "neglabel",
		"--method-param", "neglabel.ngroup=10", "--method-param", "neglabel.tau=0.02")...)
	if err != nil {
		t.Fatalf("eval again: %v\n%s", err, out)
	}
	if !strings.Contains(out, fmt.Sprintf("text tower: %d text embeddings from", len(nouns)+len(adjs))) || strings.Contains(out, "encoding") {
		t.Errorf("second run did not use the text cache:\n%s", out)
	}
	b, err = os.ReadFile(filepath.Join(dir, "zs2", "ood_metrics.json"))
	if err != nil {
		t.Fatal(err)
	}
	if recs, err = eval.ReadJSON(strings.NewReader(string(b))); err != nil || len(recs) == 0 {
		t.Fatal(err)
	}
	for _, r := range recs {
		if r.Method == "neglabel" && (r.AUROC != nl.AUROC || r.FPR95 != nl.FPR95) {
			t.Errorf("cached neglabel %+v, first run %+v", r, nl)
		}
	}

	// A probe run has no text tower: neglabel is refused with the reason.
	if out, err := runApp(t, "eval", "--embeds", emb, "--model", embedModel, "--dataset", "CIFAR10", "--no-plots",
		"--methods", "neglabel"); err == nil || !strings.Contains(err.Error(), "text tower") {
		t.Errorf("neglabel without --zeroshot: %v\n%s", err, out)
	}
}
