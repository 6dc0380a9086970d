package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"plp/eval"
)

// TestEvalMethods runs every post-hoc method that applies to a probe through `plp eval --methods all`
// and checks the records: one per method and OOD set, named by the method with its parameters.
func TestEvalMethods(t *testing.T) {
	dir := toyStore(t, 400, 200)
	probe := toyProbe(t, dir, "--epochs", "30", "--batch", "64", "--lr", "1e-2")
	out, err := runApp(t, "eval", "--probe", probe, "--embeds", dir, "--no-plots", "--methods", "all",
		"--method-param", "vim.dim=10", "--method-param", "nnguide.alpha=1", "--method-param", "nnguide.K=10",
		"--method-param", "she.metric=cosine")
	if err != nil {
		t.Fatalf("eval: %v\n%s", err, out)
	}
	b, err := os.ReadFile(filepath.Join(probe, "ood_metrics.json"))
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
	for _, m := range eval.Methods() {
		r, ok := byMethod[m.Name]
		if zs := m.Needs&eval.NeedZeroShot != 0; ok == zs {
			t.Errorf("%s: record present %v, want %v (zero-shot methods need zero-shot logits)", m.Name, ok, !ok)
		}
		if ok && (r.AUROC < 0 || r.AUROC > 100) {
			t.Errorf("%s: AUROC %v", m.Name, r.AUROC)
		}
	}
	if r := byMethod["vim"]; r.Params["dim"] != 10 {
		t.Errorf("vim params %v, want dim 10", r.Params)
	}
	if r := byMethod["she"]; r.Settings["metric"] != "cosine" {
		t.Errorf("she settings %v, want metric cosine", r.Settings)
	}
	if r := byMethod["fdbd"]; r.Params["distance_as_normalizer"] != 1 {
		t.Errorf("fdbd params %v, want distance_as_normalizer 1", r.Params)
	}
	if !strings.Contains(out, "knn_kth") {
		t.Errorf("summary lacks the post-hoc methods:\n%s", out)
	}

	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--methods", "vim", "--model", "toy", "--dataset", "CIFAR10"}, "head"},
		{[]string{"--methods", "mcm", "--probe", probe}, "zero-shot"},
		{[]string{"--methods", "nope", "--probe", probe}, "nope"},
		{[]string{"--methods", "gen", "--method-param", "gen.gamma=x", "--probe", probe}, "not a number"},
		{[]string{"--methods", "gen", "--method-param", "gen.M=0", "--probe", probe}, "outside"},
		{[]string{"--methods", "gen", "--method-param", "vim.dim=3", "--probe", probe}, "not among the selected"},
		{[]string{"--methods", "gen", "--method-param", "gen", "--probe", probe}, "NAME.KEY=VALUE"},
		{[]string{"--methods", "vim", "--probe", probe}, "dim=256 must be less than the feature width 20"},
	} {
		args := append([]string{"eval", "--embeds", dir, "--no-plots", "--overwrite", "--out", filepath.Join(dir, "bad")}, tt.args...)
		if out, err := runApp(t, args...); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("eval %v: err = %v, want one naming %q\n%s", tt.args, err, tt.want, out)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "bad", "ood_metrics.json")); !os.IsNotExist(err) {
		t.Errorf("a refused eval wrote reports (%v)", err)
	}
}

// TestEvalMethodsAllSkipsMisfits: `--methods all` leaves out, with a note, a method whose default parameters
// do not fit the data (vim's dim 256 on 20-wide features); the same method named on its own is an error.
func TestEvalMethodsAllSkipsMisfits(t *testing.T) {
	dir := toyStore(t, 200, 100)
	probe := toyProbe(t, dir, "--epochs", "2")
	out, errs, err := runCLI("", "eval", "--probe", probe, "--embeds", dir, "--no-plots", "--methods", "all")
	if err != nil {
		t.Fatalf("--methods all: %v\n%s", err, errs)
	}
	if !strings.Contains(errs, "vim (dim=256) left out of --methods all: vim: dim=256 must be less than the feature width 20") {
		t.Errorf("no note for vim on stderr:\n%s", errs)
	}
	if strings.Contains(out, "vim") || !strings.Contains(out, "knn_kth") {
		t.Errorf("summary:\n%s", out)
	}
	if _, err := runApp(t, "eval", "--probe", probe, "--embeds", dir, "--no-plots", "--methods", "vim", "--overwrite"); err == nil ||
		!strings.Contains(err.Error(), "dim=256") {
		t.Errorf("--methods vim with a misfit default: err = %v", err)
	}
}
