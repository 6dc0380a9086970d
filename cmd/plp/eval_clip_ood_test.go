package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"plp/eval"
)

// TestEvalZeroShotMethods runs the CLIP zero-shot methods through plp eval --zeroshot on stores the tiny
// CLIP model embeds: every record is there with its parameters, and neglabel reports encoding the whole
// candidate corpus with the text tower.
func TestEvalZeroShotMethods(t *testing.T) {
	dir := t.TempDir()
	emb := filepath.Join(dir, "emb")
	for _, ds := range []string{"CIFAR10", "CIFAR100"} {
		if out, err := runApp(t, "embed", "--model", embedModel, "--weights", embedWeights, "--dataset", ds,
			"--data-root", embedData, "--out", emb, "--batch", "16"); err != nil {
			t.Fatalf("embed %s: %v\n%s", ds, err, out)
		}
	}
	report := filepath.Join(dir, "zs")
	out, err := runApp(t, "eval", "--zeroshot", "--model", embedModel, "--weights", embedWeights, "--dataset", "CIFAR10",
		"--embeds", emb, "--out", report, "--no-plots", "--methods", "mcm,neglabel",
		"--method-param", "neglabel.ngroup=10", "--method-param", "neglabel.tau=0.02")
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
	if _, ok := byMethod["mcm"]; !ok {
		t.Errorf("no mcm record")
	}
	// A probe run has no text tower: neglabel is refused with the reason.
	if out, err := runApp(t, "eval", "--embeds", emb, "--model", embedModel, "--dataset", "CIFAR10", "--no-plots",
		"--methods", "neglabel"); err == nil || !strings.Contains(err.Error(), "text tower") {
		t.Errorf("neglabel without --zeroshot: %v\n%s", err, out)
	}
}
